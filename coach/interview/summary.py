"""What a session amounts to: per-question outcomes, per-topic scores, strongest and weakest
key points, and what to read in the guide. Pure functions over a Session."""

from __future__ import annotations

from collections.abc import Mapping

from coach.grading.model import Grade
from coach.interview.model import (
    FOLLOW_UP,
    MAIN,
    PointNote,
    QuestionOutcome,
    Reading,
    Session,
    SessionInfo,
    Summary,
    TopicScore,
)
from coach.interview.schedule import question_score

STRONGEST = 3
WEAKEST = 5
READING = 8


def outcomes(session: Session, titles: Mapping[str, str]) -> list[tuple[QuestionOutcome, Grade]]:
    """Each answered main question with its score and the last grade it got (the follow-up's
    grade, which covers the answer and the follow-up together, when there was one)."""
    out: list[tuple[QuestionOutcome, Grade]] = []
    turns = list(session.turns)
    for n, turn in enumerate(turns):
        if turn.kind != MAIN or turn.grade is None:
            continue
        follow = turns[n + 1] if n + 1 < len(turns) else None
        follow_grade = follow.grade if follow is not None and follow.kind == FOLLOW_UP else None
        follow_score = follow_grade.score if follow_grade is not None else None
        outcome = QuestionOutcome(
            question_id=turn.question_id,
            title=titles.get(turn.question_id, turn.question_text),
            topic=turn.topic,
            main_score=turn.grade.score,
            follow_up_score=follow_score,
            score=question_score(turn.grade.score, follow_score),
        )
        out.append((outcome, follow_grade or turn.grade))
    return out


def summarise(session: Session, titles: Mapping[str, str]) -> Summary:
    graded = outcomes(session, titles)
    topics: dict[str, list[float]] = {}
    covered: list[PointNote] = []
    missed: list[tuple[float, PointNote]] = []
    for outcome, grade in graded:
        topics.setdefault(outcome.topic, []).append(outcome.score)
        for result in grade.key_points:
            note = PointNote(
                question_id=outcome.question_id,
                question_title=outcome.title,
                text=result.point.text,
                citation=result.point.citation,
                quote=result.point.quote,
                covered=result.covered,
                similarity=round(result.similarity, 3),
            )
            if result.covered:
                covered.append(note)
            else:
                missed.append((result.point.weight, note))
    strongest = sorted(covered, key=lambda p: -p.similarity)[:STRONGEST]
    weakest_all = [note for _, note in sorted(missed, key=lambda item: (-item[0], item[1].similarity))]
    reading: list[Reading] = []
    for note in weakest_all:
        if len(reading) < READING and all(r.citation != note.citation for r in reading):
            reading.append(Reading(note.citation, note.question_title, note.text))
    scores = [o.score for o, _ in graded]
    return Summary(
        session_id=session.id,
        user=session.user,
        status=session.status,
        questions=tuple(o for o, _ in graded),
        mean_score=round(sum(scores) / len(scores), 1) if scores else None,
        topics=tuple(TopicScore(t, round(sum(v) / len(v), 1), len(v)) for t, v in topics.items()),
        strongest=tuple(strongest),
        weakest=tuple(weakest_all[:WEAKEST]),
        reading=tuple(reading),
    )


def session_info(session: Session, titles: Mapping[str, str]) -> SessionInfo:
    scores = tuple(o.score for o, _ in outcomes(session, titles))
    return SessionInfo(
        id=session.id,
        user=session.user,
        topics=session.topics,
        difficulty=session.difficulty,
        length=session.length,
        status=session.status,
        created=session.created,
        updated=session.updated,
        questions=len(scores),
        mean_score=round(sum(scores) / len(scores), 1) if scores else None,
        scores=scores,
    )


__all__ = ["summarise", "outcomes", "session_info"]
