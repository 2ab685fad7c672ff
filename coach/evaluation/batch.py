"""Grade every row of a batch file, resumably: files in, graded rows out.

Each grade is appended to OUT/results.jsonl the moment it exists, so an
interrupted run loses at most the rows in flight; a re-run reads that file and
grades only what is missing. A row is matched to a stored grade by its key (the
row id, else a hash of question + answer + reference) and the stored content
hash must match too, so editing a row's answer under the same id regrades it. A
grader with a `fingerprint` has it stored with each grade and grades from another
fingerprint are not reused; otherwise pass fresh=True after changing the grader.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from coach.errors import CoachError, InputError, StorageError
from coach.evaluation.batch_file import BatchFile, BatchRow, SkippedRow
from coach.grading.model import Grade

log = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
OWN_REFERENCE_TOPIC = "(own reference)"
FSYNC_EVERY_S = 1.0
CHUNK_ROWS = 64

Progress = Callable[[int, int], None]


class GraderLike(Protocol):
    def grade(self, question: int | str, answer: str, reference: str | None = None, feedback: str = "template") -> Grade: ...


@dataclass(frozen=True)
class GradedItem:
    """One row of the input joined with its grade: what reports are made of."""

    line: int
    key: str
    id: str | None
    candidate: str | None
    question: str  # as the file gave it
    question_id: str  # "q04", or "custom" for a given reference
    question_text: str
    topic: str
    answer: str
    score: float
    verdict: str
    human_score: float | None
    covered: int
    total_points: int
    missed: tuple[str, ...]
    notices: tuple[str, ...]
    seconds: float | None  # time the grader took for this row (None if unknown)

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line, "key": self.key, "id": self.id, "candidate": self.candidate,
            "question": self.question, "question_id": self.question_id, "question_text": self.question_text,
            "topic": self.topic, "answer": self.answer, "score": self.score, "verdict": self.verdict,
            "human_score": self.human_score, "covered": self.covered, "total_points": self.total_points,
            "missed": list(self.missed), "notices": list(self.notices), "seconds": self.seconds,
        }


@dataclass(frozen=True)
class BatchResult:
    items: list[GradedItem]  # in file order
    skipped: list[SkippedRow]  # rows that could not be read or graded, by line
    human_scale: int
    source: Path
    results_path: Path
    n_resumed: int  # rows whose grade came from an earlier run
    n_graded: int  # grader calls made by this run
    seconds: float


def guide_topics(units: list[Any]) -> dict[str, str]:
    """question id -> guide section, for the per-topic table (duplicates share their unit)."""
    return {u.id: u.section for u in units if getattr(u, "question", None) is not None}


def grade_batch(
    batch: BatchFile,
    grader: GraderLike,
    out_dir: Path,
    topics: Mapping[str, str] | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    fresh: bool = False,
) -> BatchResult:
    """Grade every row of `batch` not already in OUT/results.jsonl; return all rows graded."""
    started = time.perf_counter()
    results_path = _prepare_out_dir(out_dir) / RESULTS_FILE
    total = len(batch.rows)
    with _ResultsLog(results_path) as results:
        stored = {} if fresh else results.load()
        if fresh:
            results.clear()
        grades: dict[str, dict[str, Any]] = {}
        todo: dict[str, BatchRow] = {}  # one grader call per key, even if rows repeat
        fingerprint = _fingerprint(grader)
        for row in batch.rows:
            record = stored.get(row.key)
            if (record is not None and record.get("content_hash") == row.content_hash
                    and record.get("grader") == fingerprint):
                grades[row.key] = record
            else:
                todo.setdefault(row.key, row)
        n_resumed = sum(1 for row in batch.rows if row.key in grades)
        failures: dict[str, str] = {}
        done = n_resumed
        if progress:
            progress(done, total)
        rows_per_key = _count_keys(batch.rows)
        for row, outcome, seconds in _run(grader, list(todo.values()), max(1, workers)):
            if isinstance(outcome, CoachError):
                failures[row.key] = f"not graded: {outcome}"
            else:
                record = {"key": row.key, "content_hash": row.content_hash, "grader": fingerprint,
                          "seconds": round(seconds, 4), "grade": outcome.to_json()}
                results.append(record)
                grades[row.key] = record
            done += rows_per_key[row.key]
            if progress:
                progress(done, total)
    items: list[GradedItem] = []
    skipped = list(batch.skipped)
    for row in batch.rows:
        if row.key in grades:
            items.append(_item(row, grades[row.key], topics or {}))
        else:
            skipped.append(SkippedRow(row.line, failures.get(row.key, "not graded")))
    skipped.sort(key=lambda s: s.line)
    return BatchResult(items, skipped, batch.human_scale, batch.path, results_path, n_resumed, len(todo) - len(failures),
                       time.perf_counter() - started)


def _fingerprint(grader: GraderLike) -> str | None:
    """What identifies the grader's behaviour, if it says (e.g. a hash of its calibration):
    stored grades from a different grader are graded again instead of reused."""
    value = getattr(grader, "fingerprint", None)
    return str(value() if callable(value) else value) if value is not None else None


def _count_keys(rows: list[BatchRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.key] = counts.get(row.key, 0) + 1
    return counts


def _grade_one(grader: GraderLike, row: BatchRow) -> tuple[BatchRow, Grade | CoachError, float]:
    started = time.perf_counter()
    try:
        grade = grader.grade(row.question, row.answer, reference=row.reference, feedback="template")
    except CoachError as exc:  # a row the grader refuses (unknown question, ...) is reported, not fatal
        return row, exc, time.perf_counter() - started
    return row, grade, time.perf_counter() - started


def _run(grader: GraderLike, rows: list[BatchRow], workers: int):
    """Yield (row, grade or error, seconds) as rows finish; at most a chunk of rows in flight."""
    if workers == 1:
        for row in rows:
            yield _grade_one(grader, row)
        return
    for start in range(0, len(rows), CHUNK_ROWS):
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade") as pool:
            futures = [pool.submit(_grade_one, grader, row) for row in rows[start : start + CHUNK_ROWS]]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                for future in futures:  # on interrupt: do not start what is still queued
                    future.cancel()


def _item(row: BatchRow, record: dict[str, Any], topics: Mapping[str, str]) -> GradedItem:
    grade = record["grade"]
    points = grade.get("key_points") or []
    question_id = str(grade.get("question_id") or "custom")
    if row.topic:
        topic = row.topic
    elif row.reference or question_id == "custom":
        topic = OWN_REFERENCE_TOPIC
    else:
        topic = topics.get(question_id, "(unknown)")
    return GradedItem(
        line=row.line,
        key=row.key,
        id=row.id,
        candidate=row.candidate,
        question=str(row.question),
        question_id=question_id,
        question_text=str(grade.get("question_text") or row.question),
        topic=topic,
        answer=row.answer,
        score=float(grade["score"]),
        verdict=str(grade.get("verdict", "")),
        human_score=row.human_score,
        covered=sum(1 for p in points if p.get("covered")),
        total_points=len(points),
        missed=tuple(str(p.get("text", "")) for p in points if not p.get("covered")),
        notices=tuple(str(n) for n in grade.get("notices") or ()),
        seconds=record.get("seconds"),
    )


def _prepare_out_dir(out_dir: Path) -> Path:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot create the output folder {out_dir}: {exc.strerror}.") from None
    if not os.access(out_dir, os.W_OK):
        raise InputError(f"The output folder {out_dir} is not writable.")
    return out_dir


class _ResultsLog:
    """results.jsonl: append-only, one JSON grade per line, one writer at a time.

    Every record is flushed at once (it survives the process dying); fsync, which
    costs milliseconds on some disks, runs at most once a second and at the end, so
    a power cut can cost the last second of grades, which a re-run redoes.
    """

    def __init__(self, path: Path):
        self.path = path
        self._handle = None
        self._synced = time.monotonic()

    def __enter__(self) -> _ResultsLog:
        try:
            self._handle = self.path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"Cannot write {self.path}: {exc.strerror}.") from None
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise InputError(
                f"Another `coach eval` is writing to {self.path.parent}; wait for it or choose another --out folder."
            ) from None
        return self

    def load(self) -> dict[str, dict[str, Any]]:
        """Stored records by key (a later record wins); torn or foreign lines are ignored."""
        assert self._handle is not None
        self._handle.seek(0)
        text = self._handle.read()
        stored: dict[str, dict[str, Any]] = {}
        ignored = 0
        for line in text.splitlines():
            try:
                record = json.loads(line)
                if isinstance(record, dict) and isinstance(record.get("key"), str) and isinstance(record.get("grade"), dict):
                    float(record["grade"]["score"])
                    stored[record["key"]] = record
                    continue
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                pass
            if line.strip():
                ignored += 1
        if ignored:
            log.warning("%s: ignored %d unreadable line(s) (an interrupted write); those rows are graded again", self.path, ignored)
        if text and not text.endswith("\n"):
            self._handle.write("\n")  # close a torn last line so the next record starts clean
        return stored

    def clear(self) -> None:
        assert self._handle is not None
        self._handle.seek(0)
        self._handle.truncate()

    def append(self, record: dict[str, Any]) -> None:
        assert self._handle is not None
        try:
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._handle.flush()
            if time.monotonic() - self._synced >= FSYNC_EVERY_S:
                os.fsync(self._handle.fileno())
                self._synced = time.monotonic()
        except OSError as exc:
            raise self._write_failed(exc) from None

    def __exit__(self, *exc_info: object) -> None:
        assert self._handle is not None
        failure: OSError | None = None
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            failure = exc
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        try:
            self._handle.close()  # after a failed flush this fails again, but still frees the file
        except OSError as exc:
            failure = failure or exc
        if failure is not None:
            raise self._write_failed(failure) from None

    def _write_failed(self, exc: OSError) -> StorageError:
        # Every earlier record was flushed on its own line; a torn last line is ignored on resume.
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        reason = "the disk is full" if full else (exc.strerror or str(exc))
        fix = "free some disk space" if full else "fix the folder"
        return StorageError(
            f"Cannot write grades to {self.path.parent} ({reason}). The grades already written there are kept: "
            f"{fix}, then run the same evaluation with the same output folder again to resume where it stopped."
        )
