"""Read a file of answers to grade (CSV, TSV or JSONL) into typed rows.

Columns (case-insensitive; others are ignored):
  question     required: a guide question number ("4"), id ("q04") or free text
  answer       required: the candidate's answer (may be empty: it is graded as no answer)
  human_score  optional: a human grade on the file's human scale (0-10 unless told otherwise)
  reference    optional: a model answer used instead of the guide's answer
  id           optional: a stable row id (used to resume); unique within the file
  candidate    optional: who answered (enables the per-candidate summary)
  topic        optional: overrides the guide section used in the per-topic table

A bad row (short row, non-numeric or out-of-range score, missing answer field,
bytes that are not UTF-8, duplicate id, ...) is reported with its line number and
skipped; a file that cannot be read as a whole (empty, too big, no header with the
required columns) raises InputError.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coach.errors import InputError

REQUIRED = ("question", "answer")
OPTIONAL = ("human_score", "reference", "id", "candidate", "topic")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_ROWS = 100_000
# Whole-cell spreadsheet error values: an answer that reads like this was damaged by
# a spreadsheet on its way here (the Mohler copy has `#NAME?`), not written by a person.
SPREADSHEET_ERRORS = {"#NAME?", "#REF!", "#VALUE!", "#DIV/0!", "#N/A", "#NULL!", "#NUM!"}
_SURROGATE = re.compile("[\udc80-\udcff]")  # what surrogateescape turns undecodable bytes into


@dataclass(frozen=True)
class BatchRow:
    line: int  # 1-based line in the file where the row starts
    question: int | str  # a guide number (int), an id like "q04", or free text
    answer: str
    reference: str | None = None
    human_score: float | None = None
    id: str | None = None
    candidate: str | None = None
    topic: str | None = None

    @property
    def content_hash(self) -> str:
        """What makes two rows the same grading job: question, answer and reference."""
        payload = json.dumps([str(self.question), self.answer, self.reference or ""], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]

    @property
    def key(self) -> str:
        """The resume key: the row id when the file has one, else the content hash."""
        return f"id:{self.id}" if self.id else f"sha:{self.content_hash}"


@dataclass(frozen=True)
class SkippedRow:
    line: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason}


@dataclass(frozen=True)
class BatchFile:
    path: Path
    rows: list[BatchRow]
    skipped: list[SkippedRow]
    human_scale: int


class _BadRow(Exception):
    """A row-level problem; becomes a SkippedRow, never leaves this module."""


def read_batch_file(
    path: Path,
    human_scale: int = 10,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> BatchFile:
    """Parse `path` (.jsonl/.ndjson as JSON lines, .tsv as tab-separated, else CSV)."""
    if human_scale not in (5, 10):
        raise InputError(f"The human score scale must be 0-5 or 0-10, not 0-{human_scale}.")
    data = _read_bytes(path, max_bytes)
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        raw_rows, skipped = _jsonl_records(data, path)
    else:
        raw_rows, skipped = _csv_records(data, path, delimiter="\t" if path.suffix.lower() == ".tsv" else None)
    rows: list[BatchRow] = []
    first_line_of_id: dict[str, int] = {}
    for line, record in raw_rows:
        try:
            row = _to_row(line, record, human_scale)
            if row.id is not None:
                if row.id in first_line_of_id:
                    raise _BadRow(f"duplicate id {row.id!r} (first used on line {first_line_of_id[row.id]})")
                first_line_of_id[row.id] = line
        except _BadRow as exc:
            skipped.append(SkippedRow(line, str(exc)))
            continue
        rows.append(row)
        if len(rows) > max_rows:
            raise InputError(f"{path} has more than {max_rows:,} rows; split it into smaller files.")
    if not rows and not skipped:
        raise InputError(f"{path} has no rows to grade (only a header or blank lines).")
    skipped.sort(key=lambda s: s.line)
    return BatchFile(path, rows, skipped, human_scale)


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(f"File {path} does not exist.") from None
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror}.") from None
    if size > max_bytes:
        raise InputError(
            f"{path} is {size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB. "
            "Split it into smaller files (results from each can go to the same --out folder)."
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror}.") from None
    if not data.strip():
        raise InputError(f"{path} is empty; expected a header with the columns question,answer and one row per answer.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path} is UTF-16; save it as UTF-8 (in a spreadsheet: CSV UTF-8).")
    return data


def _csv_records(data: bytes, path: Path, delimiter: str | None) -> tuple[list[tuple[int, dict[str, str]]], list[SkippedRow]]:
    # surrogateescape keeps undecodable bytes as markers, so only their row is lost.
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    header_line = text.split("\n", 1)[0]
    if delimiter is None:
        # Spreadsheets in some locales export ';'; pick whichever separator the header uses most.
        delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise InputError(f"{path}: line 1 is not a valid CSV header ({exc}).") from None
    columns = [_column_name(h) for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InputError(
            f"{path} is missing the required column(s) {', '.join(missing)}; "
            f"found {', '.join(repr(c) for c in columns if c) or 'no columns'}. "
            f"Expected columns: question, answer, and optionally {', '.join(OPTIONAL)}."
        )
    records: list[tuple[int, dict[str, str]]] = []
    skipped: list[SkippedRow] = []
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            skipped.append(SkippedRow(line, f"not valid CSV ({exc})"))
            if reader.line_num < line:  # no progress: stop rather than loop
                break
            continue
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) < len(columns):
            absent = ", ".join(c or "(unnamed)" for c in columns[len(cells):])
            skipped.append(SkippedRow(line, f"has {len(cells)} of {len(columns)} columns (no {absent})"))
            continue
        if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns):]):
            skipped.append(SkippedRow(line, f"has {len(cells)} cells but the header has {len(columns)} columns (an unquoted separator?)"))
            continue
        records.append((line, dict(zip(columns, cells[: len(columns)], strict=True))))
    return records, skipped


def _jsonl_records(data: bytes, path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[SkippedRow]]:
    records: list[tuple[int, dict[str, Any]]] = []
    skipped: list[SkippedRow] = []
    for line, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            skipped.append(SkippedRow(line, "is not valid UTF-8"))
            continue
        if line == 1:
            text = text.removeprefix("\ufeff")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            skipped.append(SkippedRow(line, f"is not valid JSON ({exc.msg})"))
            continue
        if not isinstance(value, dict):
            skipped.append(SkippedRow(line, "is not a JSON object"))
            continue
        records.append((line, {_column_name(k): v for k, v in value.items()}))
    if not records and not skipped:
        raise InputError(f"{path} has no JSON lines.")
    return records, skipped


def _column_name(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_")


def _to_row(line: int, record: dict[str, Any], human_scale: int) -> BatchRow:
    for name, value in record.items():
        if isinstance(value, str) and _SURROGATE.search(value):
            raise _BadRow(f"column {name!r} has bytes that are not valid UTF-8")
    if record.get("answer") is None:
        raise _BadRow("has no answer field")
    if record.get("question") is None or not str(record["question"]).strip():
        raise _BadRow("has no question")
    answer = record["answer"]
    if not isinstance(answer, str):
        raise _BadRow("answer must be text")
    if answer.strip() in SPREADSHEET_ERRORS:
        raise _BadRow(f"answer is the spreadsheet error {answer.strip()!r} (damaged in a spreadsheet)")
    return BatchRow(
        line=line,
        question=_question(record["question"]),
        answer=answer,
        reference=_text_or_none(record.get("reference")),
        human_score=_score(record.get("human_score"), human_scale),
        id=_text_or_none(record.get("id")),
        candidate=_text_or_none(record.get("candidate")),
        topic=_text_or_none(record.get("topic")),
    )


def _question(value: Any) -> int | str:
    if isinstance(value, bool):
        raise _BadRow("question must be a number, an id like q04, or text")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON ids written as numbers
    text = str(value).strip()
    return text or None


def _score(value: Any, human_scale: int) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise _BadRow(f"human_score {value!r} is not a number")
    try:
        score = float(str(value).strip().replace(",", ".") if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise _BadRow(f"human_score {str(value)[:40]!r} is not a number") from None
    if not math.isfinite(score) or not 0 <= score <= human_scale:
        raise _BadRow(f"human_score {score:g} is outside 0-{human_scale}")
    return score
