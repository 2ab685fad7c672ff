"""Interviews with the real grader and the packaged embedder, and a `coach interview` process
killed with SIGKILL mid-session, then resumed."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from coach.config import REPO_ROOT
from coach.interview.asking import leaks
from coach.interview.db import InterviewDB
from coach.interview.engine import InterviewEngine
from coach.interview.model import FOLLOW_UP, MAIN

pytestmark = pytest.mark.model

HANG_GUARD_S = 600  # only stops a hung process from blocking the suite; never a pass/fail criterion
PROMPT = "Your answer"


@pytest.fixture
def engine(real_coach, tmp_path) -> InterviewEngine:
    db = InterviewDB(tmp_path / "data" / "coach.sqlite3")
    return InterviewEngine(real_coach.grader, real_coach.index, db, real_coach.settings)


def guide_answer(engine: InterviewEngine, question_id: str, share: float = 1.0) -> str:
    points = [p for p in engine.question(question_id).key_points if p.kind != "code"]
    points = points or list(engine.question(question_id).key_points)
    keep = max(1, round(len(points) * share))
    return " ".join(p.text for p in points[:keep])


def test_a_full_two_question_session(engine):
    turn = engine.start("ana", length=2)
    seen = []
    result = None
    while turn is not None:
        seen.append((turn.question_id, turn.kind))
        result = engine.answer(turn.session_id, guide_answer(engine, turn.question_id), user="ana")
        assert result.grade.question_id == turn.question_id
        turn = result.next
    mains = [q for q, kind in seen if kind == MAIN]
    assert len(mains) == 2 and len(set(mains)) == 2
    assert result.finished and result.summary is not None
    assert len(result.summary.questions) == 2
    assert all(q.score >= 6.0 for q in result.summary.questions), result.summary.questions
    info = engine.history("ana")[0]
    assert info.status == "finished" and info.questions == 2
    assert sum(m.seen for m in engine.mastery("ana")) == 2


def test_a_partial_answer_gets_a_leak_free_follow_up(engine):
    turn = engine.start("ben", topics=["training"], length=1)
    assert turn.question_id == "q04"  # the first question of the section for a new user
    result = engine.answer(turn.session_id, guide_answer(engine, "q04", share=0.34), user="ben")
    grade = result.grade
    assert grade.missed and any(r.covered for r in grade.key_points), grade.to_json()
    assert result.follow_up, (grade.verdict, grade.score)
    follow = result.next
    assert follow.kind == FOLLOW_UP and follow.question_id == "q04"
    assert not leaks(follow.question_text, grade.missed, given=engine.question("q04").title)
    done = engine.answer(turn.session_id, "I do not remember more.", user="ben")
    assert done.finished and done.turn.kind == FOLLOW_UP and done.next is None


def test_every_follow_up_on_the_real_rubric_is_leak_free(engine):
    from coach.interview.asking import follow_up

    engine.catalog  # noqa: B018 - builds the idf table
    for question in engine.catalog:
        for n, point in enumerate(question.key_points):
            asked = follow_up(question.title, point, question.key_points, engine._idf, variant=n)
            assert not leaks(asked.text, question.key_points, given=question.title), (question.id, asked.text)


class Interview:
    """`coach interview` in a real subprocess, its output read line by line."""

    def __init__(self, args: list[str], data_dir: Path, log: Path):
        env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
        env.update({"COACH_DATA_DIR": str(data_dir), "COACH_CORPUS_PATH": str(REPO_ROOT / "corpus"),
                    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "coach", "interview", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env, cwd=data_dir.parent,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.seen: list[str] = []

    def _pump(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until_prompt(self) -> list[str]:
        """Lines up to and including the next answer prompt."""
        got = []
        while True:
            try:
                line = self.lines.get(timeout=HANG_GUARD_S)
            except queue.Empty:
                self.proc.kill()
                raise AssertionError(f"no prompt; output so far: {self.seen[-20:]}") from None
            if line is None:
                raise AssertionError(f"process ended before a prompt: {self.seen[-20:]}; stderr in {self.log.name}")
            got.append(line)
            self.seen.append(line)
            if line.startswith(PROMPT):
                return got

    def send(self, text: str) -> None:
        self.proc.stdin.write(text)  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]


def asked(lines: list[str]) -> tuple[str | None, str]:
    """(question id or None for a follow-up, the question text) from the lines before a prompt."""
    text_line = lines[-2]
    if text_line.startswith("Follow-up: "):
        return None, text_line[len("Follow-up: "):]
    header = lines[-3]
    return re.search(r"\[(q\d+)\]", header).group(1), text_line  # type: ignore[union-attr]


def test_resume_after_the_process_is_killed(real_coach, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    first = Interview(["--user", "kim", "--length", "2"], data, tmp_path / "first.log")
    try:
        qid, text = asked(first.until_prompt())
        assert qid is not None
        answer = " ".join(p.text for p in real_coach.grader.rubric(qid))
        first.send(answer + "\n\n")
        pending_id, pending_text = asked(first.until_prompt())  # the process now waits for input
        first.proc.kill()  # SIGKILL: no handler runs, nothing is flushed on the way out
        assert first.proc.wait(timeout=HANG_GUARD_S) == -9
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
        first.log.close()

    db = InterviewDB(data / "coach.sqlite3")
    session = db.latest_active("kim")
    assert session is not None and len(session.turns) == 2
    graded = session.turns[0]
    assert graded.question_id == qid and graded.question_text == text and graded.answer == answer
    assert graded.grade is not None and graded.grade.question_id == qid and graded.grade.score > 0
    pending = session.pending_turn
    assert pending is not None and pending.question_text == pending_text
    assert pending_id in (None, pending.question_id)
    db.close()

    second = Interview(["--user", "kim", "--resume"], data, tmp_path / "second.log")
    try:
        lines = second.until_prompt()
        assert any(f"Session {session.id}" in line and "resumed" in line for line in lines)
        assert asked(lines) == (pending_id, pending_text)
        second.proc.stdin.close()  # type: ignore[union-attr]  # end of input: save and leave
        assert second.proc.wait(timeout=HANG_GUARD_S) == 0
        rest = []
        while (line := second.lines.get(timeout=HANG_GUARD_S)) is not None:
            rest.append(line)
        assert any(line.startswith("Saved.") for line in rest)
    finally:
        if second.proc.poll() is None:
            second.proc.kill()
        second.log.close()

    again = InterviewDB(data / "coach.sqlite3").load_session(session.id)
    assert again == session  # leaving on end of input changed nothing
