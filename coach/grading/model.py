"""What a grade is. Shared by the grader, the interview engine, batch evaluation and the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERDICTS = ("strong", "good", "partial", "weak", "off-topic", "no answer")


@dataclass(frozen=True)
class KeyPoint:
    """One thing a good answer says, taken from the guide's answer."""

    text: str  # the key point, as a short statement
    citation: str  # chunk id of the guide passage it comes from ("q04" or "q17.2")
    quote: str  # the guide sentence it was derived from (verbatim)
    weight: float = 1.0
    context: str = ""  # what answers are matched against (the text plus its lead-in or subject)
    kind: str = "statement"  # definition | bullet | step | statement | example | code

    @property
    def match_text(self) -> str:
        return self.context or self.text


@dataclass(frozen=True)
class KeyPointResult:
    point: KeyPoint
    covered: bool
    evidence: str  # the span of the answer that covers it ("" when missed)
    similarity: float  # how closely the evidence matches the point (0-1)


@dataclass(frozen=True)
class Grade:
    question: int | None  # the guide's question number (None for a free reference)
    question_id: str  # "q04", or "custom" when graded against a given reference
    question_text: str
    score: float  # 0-10, one decimal; deterministic for the same question and answer
    verdict: str  # one of VERDICTS
    key_points: tuple[KeyPointResult, ...]
    feedback: str
    citations: tuple[str, ...]
    model_answer: str
    notices: tuple[str, ...] = field(default=())  # e.g. "answer truncated to 8000 characters"
    signals: dict[str, float] = field(default_factory=dict)  # the features behind the score

    def to_json(self) -> dict[str, Any]:
        """The `coach grade --json` contract."""
        return {
            "question": self.question,
            "question_id": self.question_id,
            "question_text": self.question_text,
            "score": self.score,
            "verdict": self.verdict,
            "key_points": [
                {
                    "text": r.point.text,
                    "covered": r.covered,
                    "evidence": r.evidence,
                    "citation": r.point.citation,
                    "quote": r.point.quote,
                }
                for r in self.key_points
            ],
            "feedback": self.feedback,
            "citations": list(self.citations),
            "model_answer": self.model_answer,
            "notices": list(self.notices),
            "signals": dict(self.signals),
        }

    @property
    def missed(self) -> list[KeyPoint]:
        return [r.point for r in self.key_points if not r.covered]


