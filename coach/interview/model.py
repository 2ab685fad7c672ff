"""Session state: what a session, a turn, a turn's result and a summary are.

Grades are stored as JSON (never pickle): `grade_to_json` writes Grade.to_json() plus the
fields it leaves out (similarity, weight and the point's other fields), `grade_from_json` reads
it back into the shared Grade type, ignoring fields this version does not know.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coach.grading.model import Grade, KeyPoint, KeyPointResult

MAIN = "main"
FOLLOW_UP = "follow-up"
ACTIVE = "active"
FINISHED = "finished"
ADAPTIVE = "adaptive"


@dataclass(frozen=True)
class Turn:
    """One question asked in a session and, once given, its answer and grade."""

    session_id: str
    position: int  # 1-based order in the session
    question_id: str  # the guide question ("q04")
    kind: str  # MAIN or FOLLOW_UP
    question_text: str  # exactly what was asked
    created: datetime
    answer: str | None = None  # None while the question waits for an answer
    grade: Grade | None = None
    answered: datetime | None = None
    topic: str = ""
    difficulty: str = ""
    focus: str = ""  # follow-ups: the citation of the missed point asked about

    @property
    def pending(self) -> bool:
        return self.answer is None


@dataclass(frozen=True)
class Session:
    id: str
    user: str
    topics: tuple[str, ...]  # empty: every topic
    difficulty: str  # easy | medium | hard | any
    length: int | None  # planned main questions; None: adaptive
    status: str  # ACTIVE or FINISHED
    created: datetime
    updated: datetime
    turns: tuple[Turn, ...] = ()

    @property
    def pending_turn(self) -> Turn | None:
        return self.turns[-1] if self.turns and self.turns[-1].pending else None

    @property
    def main_turns(self) -> list[Turn]:
        return [t for t in self.turns if t.kind == MAIN]

    @property
    def length_label(self) -> str:
        return ADAPTIVE if self.length is None else str(self.length)


@dataclass(frozen=True)
class TopicScore:
    topic: str
    mean: float  # mean question score (0-10)
    questions: int


@dataclass(frozen=True)
class PointNote:
    """A key point as the summary reports it."""

    question_id: str
    question_title: str
    text: str
    citation: str
    quote: str
    covered: bool
    similarity: float


@dataclass(frozen=True)
class Reading:
    """Something to read in the guide, with the citation to find it."""

    citation: str  # chunk id ("q17.2")
    question_title: str
    why: str  # the missed point's statement


@dataclass(frozen=True)
class QuestionOutcome:
    question_id: str
    title: str
    topic: str
    main_score: float
    follow_up_score: float | None
    score: float  # schedule.question_score(main, follow_up)


@dataclass(frozen=True)
class Summary:
    session_id: str
    user: str
    status: str
    questions: tuple[QuestionOutcome, ...]
    mean_score: float | None
    topics: tuple[TopicScore, ...]
    strongest: tuple[PointNote, ...]
    weakest: tuple[PointNote, ...]
    reading: tuple[Reading, ...]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TurnResult:
    """What `answer` returns: the graded turn and what comes next."""

    turn: Turn  # the turn just answered, with its grade
    next: Turn | None  # the follow-up or next question; None when the session ended
    finished: bool
    summary: Summary | None = None  # set when the session ended

    @property
    def grade(self) -> Grade:
        assert self.turn.grade is not None
        return self.turn.grade

    @property
    def follow_up(self) -> bool:
        return self.next is not None and self.next.kind == FOLLOW_UP

    def grade_json(self) -> dict[str, Any]:
        """The grade as a front end may show it now. While a follow-up waits, the missed points,
        the feedback that names them and the model answer are held back: they would answer it."""
        data = self.grade.to_json()
        if self.follow_up:
            covered = [kp for kp in data["key_points"] if kp["covered"]]
            total = len(data["key_points"])
            data["key_points"] = covered
            data["feedback"] = (
                f"You covered {len(covered)} of {total} key points. Answer the follow-up; "
                "the points you missed are shown after it."
            )
            data["model_answer"] = ""
            data["withheld_points"] = total - len(covered)
        return data


@dataclass(frozen=True)
class SessionInfo:
    """One row of `history`."""

    id: str
    user: str
    topics: tuple[str, ...]
    difficulty: str
    length: int | None
    status: str
    created: datetime
    updated: datetime
    questions: int  # main questions answered
    mean_score: float | None
    scores: tuple[float, ...] = field(default=())


def grade_to_json(grade: Grade) -> dict[str, Any]:
    data = grade.to_json()
    data["key_points"] = [
        {**dataclasses.asdict(r.point), "covered": r.covered, "evidence": r.evidence, "similarity": r.similarity}
        for r in grade.key_points
    ]
    return data


_POINT_FIELDS = {f.name for f in dataclasses.fields(KeyPoint)}
_GRADE_FIELDS = {f.name for f in dataclasses.fields(Grade)}


def grade_from_json(data: dict[str, Any]) -> Grade:
    results = tuple(
        KeyPointResult(
            point=KeyPoint(**{k: v for k, v in item.items() if k in _POINT_FIELDS}),
            covered=bool(item["covered"]),
            evidence=item.get("evidence", ""),
            similarity=float(item.get("similarity", 0.0)),
        )
        for item in data.get("key_points", [])
    )
    values = {k: v for k, v in data.items() if k in _GRADE_FIELDS and k != "key_points"}
    values["citations"] = tuple(values.get("citations", ()))
    values["notices"] = tuple(values.get("notices", ()))
    values["signals"] = dict(values.get("signals", {}))
    return Grade(key_points=results, **values)
