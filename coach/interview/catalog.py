"""The questions an interview can ask: the guide's question units, with topic and difficulty.

Topics are the guide's sections. The asked text is the guide's own question title (grounded by
construction); the engine still runs it through the leak check against its key points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from coach.corpus import QUESTION, Chunk
from coach.errors import InputError
from coach.grading.model import KeyPoint
from coach.interview.schedule import Candidate, question_difficulty


@dataclass(frozen=True)
class GuideQuestion:
    id: str  # "q04"
    number: int
    title: str  # the question as the guide asks it
    topic: str  # the guide section
    difficulty: str  # easy | medium | hard
    order: int  # position in the guide
    key_points: tuple[KeyPoint, ...]
    answer_words: int

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.id, self.topic, self.difficulty, self.order)


def build_catalog(units: Iterable[Chunk], rubric: Callable[[str], Sequence[KeyPoint]]) -> list[GuideQuestion]:
    """Every guide question unit (user documents are not interview questions), in guide order."""
    out = []
    for unit in units:
        if unit.kind != QUESTION or unit.question is None:
            continue
        points = tuple(rubric(unit.id))
        if not points:
            continue  # nothing to grade against: not a usable interview question
        out.append(
            GuideQuestion(
                id=unit.id,
                number=unit.question,
                title=unit.title,
                topic=unit.section or "General",
                difficulty=question_difficulty(unit.title, unit.text, len(points)),
                order=len(out),
                key_points=points,
                answer_words=len(unit.text.split()),
            )
        )
    return out


def topics_of(catalog: Sequence[GuideQuestion]) -> dict[str, list[str]]:
    """topic -> question ids, topics in guide order."""
    out: dict[str, list[str]] = {}
    for question in catalog:
        out.setdefault(question.topic, []).append(question.id)
    return out


def resolve_topics(requested: Iterable[str] | None, catalog: Sequence[GuideQuestion]) -> tuple[str, ...]:
    """Topic names as typed ("training", "Advanced Architectures") -> the guide's section names.
    A name matches a section exactly, by prefix or as a word inside it (case-insensitive);
    a name that matches none, or several, is an InputError listing the topics."""
    known = list(topics_of(catalog))
    chosen: list[str] = []
    for raw in requested or ():
        for name in (part.strip() for part in raw.split(",")):
            if not name:
                continue
            lowered = name.lower()
            matches = [t for t in known if t.lower() == lowered] or [
                t for t in known if t.lower().startswith(lowered) or lowered in t.lower().split()
            ]
            if len(matches) != 1:
                problem = "matches no topic" if not matches else f"matches several topics ({', '.join(matches)})"
                raise InputError(f"Topic {name!r} {problem}. Topics: {', '.join(known)}.")
            if matches[0] not in chosen:
                chosen.append(matches[0])
    return tuple(chosen)


__all__ = ["GuideQuestion", "build_catalog", "topics_of", "resolve_topics"]
