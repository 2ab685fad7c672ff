"""Mastery, spaced repetition and the choice of the next question. Pure functions only.

Per question (SM-2, scores 0-10 mapped to SM-2 quality 0-5):
  * quality = score / 2. Below PASS_QUALITY (a score under 6) the question lapses: repetitions
    restart and it is due again after 1 day. Otherwise the interval grows 1 day, 6 days, then
    interval x ease; ease moves by SM-2's rule and never drops below 1.3.
  * `estimate` is an exponential moving average of the scores (the latest counts half): what the
    progress chart and the topic weakness use, less jumpy than the last score alone.
Per topic (a guide section): the mean estimate of its questions seen so far ("average") and
the share of the topic mastered ("mastery" = sum of estimates / 10 / number of questions, so
unseen questions count as 0 and the bar fills as the topic is covered).

Next question (`choose_next`), among the questions allowed (chosen topics and difficulty, never
one already asked in this session), in this order:
  1. due and weak: seen, due now, last score under WEAK_SCORE; lowest score first;
  2. new: never seen; weakest topic first (a topic never seen counts as 0.5), then the topic asked
     least in this session (so a session moves across topics), then guide order;
  3. due and strong: seen, due now; most overdue first;
  4. not yet due: soonest due first (only once everything else is used up).

Difficulty of a guide question (`question_difficulty`): points for how much a full answer must
say and do, 0-1 easy, 2-3 medium, 4+ hard:
  * answer length: under 80 words 0, under 150 words 1, else 2;
  * key points: up to 4 -> 0, up to 7 -> 1, more -> 2;
  * kind: asks for code ("write", "implement") +2; a code example in the guide's answer +1;
    a comparison or several questions in one (difference, compare, "vs", two "?") +1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

DIFFICULTIES = ("easy", "medium", "hard")
DEFAULT_EASE = 2.5
MIN_EASE = 1.3
PASS_QUALITY = 3.0  # SM-2: quality under 3 is a lapse
WEAK_SCORE = 6.0  # a last score under this makes a due question "weak"
NEW_TOPIC_MASTERY = 0.5  # the prior for a topic with nothing seen yet
ESTIMATE_WEIGHT = 0.5  # weight of the newest score in the moving estimate
PROMPTED_CREDIT = 0.5  # what a point recalled only after a follow-up is worth

# Adaptive sessions stop once the session's mean score is known to within ADAPTIVE_SE points
# (standard error of the mean of its main-question scores), never before ADAPTIVE_MIN
# questions and always at ADAPTIVE_CAP.
ADAPTIVE_MIN = 3
ADAPTIVE_CAP = 10
ADAPTIVE_SE = 1.0


@dataclass(frozen=True)
class MasteryRecord:
    """What the scheduler knows about one user and one question."""

    question_id: str
    topic: str
    ease: float = DEFAULT_EASE
    interval: float = 0.0  # days
    due: datetime | None = None  # None: never seen
    last_score: float | None = None
    attempts: int = 0
    repetitions: int = 0  # successful reviews in a row (SM-2's n)
    estimate: float | None = None  # moving average of scores, 0-10
    updated: datetime | None = None


@dataclass(frozen=True)
class Candidate:
    """A question the scheduler may pick."""

    question_id: str
    topic: str
    difficulty: str
    order: int  # position in the guide


@dataclass(frozen=True)
class TopicMastery:
    """One bar of the progress chart."""

    topic: str
    mastery: float  # 0-1: sum of question estimates / 10 / questions in the topic
    average: float | None  # mean estimate (0-10) of the questions seen; None when none seen
    seen: int
    total: int
    due: int  # seen questions due for review now


def update_mastery(record: MasteryRecord, score: float, now: datetime) -> MasteryRecord:
    """SM-2 step for one graded answer (score 0-10)."""
    score = min(max(float(score), 0.0), 10.0)
    quality = score / 2.0
    if quality < PASS_QUALITY:
        repetitions, interval = 0, 1.0
    else:
        repetitions = record.repetitions + 1
        if repetitions == 1:
            interval = 1.0
        elif repetitions == 2:
            interval = 6.0
        else:
            interval = max(record.interval, 1.0) * record.ease
    gap = 5.0 - quality
    ease = max(MIN_EASE, record.ease + 0.1 - gap * (0.08 + gap * 0.02))
    estimate = score if record.estimate is None else ESTIMATE_WEIGHT * score + (1 - ESTIMATE_WEIGHT) * record.estimate
    return replace(
        record,
        ease=round(ease, 4),
        interval=round(interval, 4),
        due=now + timedelta(days=interval),
        last_score=score,
        attempts=record.attempts + 1,
        repetitions=repetitions,
        estimate=round(estimate, 4),
        updated=now,
    )


def question_score(main: float, follow_up: float | None) -> float:
    """A question's outcome: the unprompted answer, plus half of what the follow-up added."""
    if follow_up is None or follow_up <= main:
        return round(main, 1)
    return round(main + PROMPTED_CREDIT * (follow_up - main), 1)


def topic_mastery(
    records: Mapping[str, MasteryRecord], topics: Mapping[str, Sequence[str]], now: datetime
) -> list[TopicMastery]:
    """Per-topic mastery; `topics` maps topic -> its question ids, in display order."""
    out = []
    for topic, question_ids in topics.items():
        seen = [records[q] for q in question_ids if q in records and records[q].estimate is not None]
        estimates = [r.estimate or 0.0 for r in seen]
        total = len(question_ids)
        out.append(
            TopicMastery(
                topic=topic,
                mastery=round(sum(estimates) / 10.0 / total, 4) if total else 0.0,
                average=round(sum(estimates) / len(estimates), 2) if estimates else None,
                seen=len(seen),
                total=total,
                due=sum(1 for r in seen if r.due is not None and r.due <= now),
            )
        )
    return out


def _topic_average(records: Iterable[MasteryRecord]) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for record in records:
        if record.estimate is not None:
            sums.setdefault(record.topic, []).append(record.estimate)
    return {topic: sum(values) / len(values) / 10.0 for topic, values in sums.items()}


def rank_candidates(
    candidates: Sequence[Candidate],
    records: Mapping[str, MasteryRecord],
    asked: Iterable[str],
    now: datetime,
    topics: Iterable[str] | None = None,
    difficulty: str = "any",
    session_topics: Mapping[str, int] | None = None,
) -> list[Candidate]:
    """Every allowed candidate, best next question first (see the module docstring)."""
    asked_ids = set(asked)
    wanted_topics = set(topics) if topics else None
    topic_strength = _topic_average(records.values())
    counts = session_topics or {}

    def key(c: Candidate) -> tuple:
        record = records.get(c.question_id)
        if record is None or record.due is None or record.last_score is None:
            weakness = 1.0 - topic_strength.get(c.topic, NEW_TOPIC_MASTERY)
            return (2, -round(weakness, 6), counts.get(c.topic, 0), 0.0, c.order)
        overdue = (now - record.due).total_seconds()
        if overdue >= 0 and record.last_score < WEAK_SCORE:
            return (1, record.last_score, 0, -overdue, c.order)
        if overdue >= 0:
            return (3, -overdue, 0, 0.0, c.order)
        return (4, -overdue, 0, record.last_score, c.order)

    allowed = [
        c
        for c in candidates
        if c.question_id not in asked_ids
        and (wanted_topics is None or c.topic in wanted_topics)
        and (difficulty == "any" or c.difficulty == difficulty)
    ]
    return sorted(allowed, key=key)


def choose_next(
    candidates: Sequence[Candidate],
    records: Mapping[str, MasteryRecord],
    asked: Iterable[str],
    now: datetime,
    topics: Iterable[str] | None = None,
    difficulty: str = "any",
    session_topics: Mapping[str, int] | None = None,
) -> Candidate | None:
    """The next question, or None when every allowed question was asked in this session."""
    ranked = rank_candidates(candidates, records, asked, now, topics, difficulty, session_topics)
    return ranked[0] if ranked else None


def adaptive_should_stop(scores: Sequence[float]) -> bool:
    """Adaptive length: stop when the session's mean score is stable, or at the cap."""
    n = len(scores)
    if n >= ADAPTIVE_CAP:
        return True
    if n < ADAPTIVE_MIN:
        return False
    mean = sum(scores) / n
    variance = sum((s - mean) ** 2 for s in scores) / (n - 1)
    return math.sqrt(variance / n) <= ADAPTIVE_SE


_ASKS_FOR_CODE = re.compile(r"\b(write|implement|code)\b", re.IGNORECASE)
_COMPARES = re.compile(r"\b(difference|differ|compare|comparison|versus|vs)\b|\bprefer\b", re.IGNORECASE)


def question_difficulty(title: str, answer: str, key_points: int) -> str:
    """easy | medium | hard, from the guide's answer (see the module docstring)."""
    length = len(answer.split())
    points = 0 if length < 80 else 1 if length < 150 else 2
    points += 0 if key_points <= 4 else 1 if key_points <= 7 else 2
    if _ASKS_FOR_CODE.search(title):
        points += 2
    elif "```" in answer:
        points += 1
    if _COMPARES.search(title) or title.count("?") >= 2:
        points += 1
    return "easy" if points <= 1 else "medium" if points <= 3 else "hard"


__all__ = [
    "MasteryRecord", "Candidate", "TopicMastery", "DIFFICULTIES", "update_mastery", "question_score",
    "topic_mastery", "rank_candidates", "choose_next", "adaptive_should_stop", "question_difficulty",
]
