"""The unit of text everything else works on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

QUESTION = "question"  # one interview question with its whole answer
SUBCHUNK = "subchunk"  # a piece of a long answer; `parent` names its question
GUIDE_TEXT = "guide-text"  # non-question guide text (intro, section lead-ins, tips)
DOCUMENT = "document"  # a piece of a user's own document


@dataclass(frozen=True)
class Chunk:
    id: str  # stable: "q04", "q17.2", "intro-1", "notes-md-3"
    kind: str
    title: str
    section: str
    text: str
    source: str  # file name the text came from
    span: tuple[int, int]  # first and last line (1-based) in the source
    question: int | None = None  # the guide's question number
    parent: str | None = None  # for sub-chunks: the id of the question unit
    aliases: tuple[int, ...] = field(default=())  # other numbers of a duplicate question

    @property
    def unit_id(self) -> str:
        """The id retrieval returns: sub-chunks fold into their question."""
        return self.parent or self.id

    @property
    def numbers(self) -> tuple[int, ...]:
        """Every question number this chunk answers (duplicates included)."""
        return ((self.question,) if self.question is not None else ()) + self.aliases

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["span"] = list(self.span)
        data["aliases"] = list(self.aliases)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Chunk:
        return cls(
            id=data["id"],
            kind=data["kind"],
            title=data["title"],
            section=data["section"],
            text=data["text"],
            source=data["source"],
            span=(int(data["span"][0]), int(data["span"][1])),
            question=data.get("question"),
            parent=data.get("parent"),
            aliases=tuple(data.get("aliases") or ()),
        )


def question_id(number: int) -> str:
    return f"q{number:02d}"
