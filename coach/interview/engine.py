"""The interview state machine: start, answer, follow up, move on, finish, resume.

A session asks guide questions chosen by the scheduler (weak and due first, never twice in a
session). After each main answer: when it was partial (some key points covered, under
FOLLOW_UP_BELOW of them by weight), one follow-up about a missed point; then the next
question or the end. A follow-up's answer is graded together with the main answer; the question's score is the main
score plus half of what the follow-up added (schedule.question_score), and that is what the
spaced-repetition record learns from. Every step is committed before it is shown, so
`resume` continues exactly where a killed process stopped.

Users are kept apart by name: every call that names a session must say which user asks, and
is refused unless the session is that user's (a call without a user is refused too: every
session has a named owner); session ids are random, so one user cannot guess another's.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from coach.config import Settings
from coach.errors import InputError
from coach.grading.model import Grade, KeyPoint
from coach.interview.asking import follow_up, leaks, term_idf
from coach.interview.catalog import GuideQuestion, build_catalog, resolve_topics, topics_of
from coach.interview.db import InterviewDB
from coach.interview.export import FORMATS, render
from coach.interview.model import (
    ACTIVE,
    FINISHED,
    FOLLOW_UP,
    MAIN,
    Session,
    SessionInfo,
    Summary,
    Turn,
    TurnResult,
)
from coach.interview.schedule import (
    DIFFICULTIES,
    MasteryRecord,
    TopicMastery,
    adaptive_should_stop,
    choose_next,
    question_score,
    topic_mastery,
    update_mastery,
)
from coach.interview.summary import outcomes, session_info, summarise

MAX_LENGTH = 50
MAX_USER_CHARS = 64
NO_FOLLOW_UP_VERDICTS = frozenset({"off-topic", "no answer"})
FOLLOW_UP_BELOW = 0.75  # covered share (by weight) under which a partial answer gets a follow-up


class GraderLike(Protocol):
    """What the engine needs from coach.grading.Grader."""

    def grade(self, question: Any, answer: str, reference: str | None = None, feedback: str = "template") -> Grade: ...

    def rubric(self, question_id: str) -> list[KeyPoint]: ...


def covered_share(grade: Grade) -> float:
    """The weighted share of the key points the answer covered (0-1)."""
    total = sum(r.point.weight for r in grade.key_points)
    return sum(r.point.weight for r in grade.key_points if r.covered) / total if total else 0.0


def wants_follow_up(grade: Grade) -> bool:
    """A partial answer: it covered some key points but missed a real part of them. Judged on
    the key points, not the score: a well-calibrated score can be high while whole points are
    missing, and those are what an interviewer probes."""
    if grade.verdict in NO_FOLLOW_UP_VERDICTS:
        return False
    return 0.0 < covered_share(grade) < FOLLOW_UP_BELOW


def missed_point_to_ask(grade: Grade) -> KeyPoint | None:
    """The missed point that matters most (highest weight; the guide's order breaks ties)."""
    missed = grade.missed
    return max(missed, key=lambda p: p.weight) if missed else None


def check_user(user: str) -> str:
    name = (user or "").strip()
    if not name:
        raise InputError("A user name is needed (e.g. --user alice).")
    if len(name) > MAX_USER_CHARS or any(ord(ch) < 32 for ch in name):
        raise InputError(f"A user name is at most {MAX_USER_CHARS} printable characters.")
    return name


def check_length(length: int | str | None) -> int | None:
    """A planned number of main questions, or None for adaptive."""
    if length is None or (isinstance(length, str) and length.strip().lower() == "adaptive"):
        return None
    try:
        value = int(length)
    except (TypeError, ValueError):
        raise InputError(f"Length must be a number of questions or 'adaptive', not {length!r}.") from None
    if not 1 <= value <= MAX_LENGTH:
        raise InputError(f"Length must be between 1 and {MAX_LENGTH} questions (or 'adaptive').")
    return value


def check_difficulty(difficulty: str | None) -> str:
    value = (difficulty or "any").strip().lower()
    if value not in (*DIFFICULTIES, "any"):
        raise InputError(f"Difficulty must be easy, medium, hard or any, not {difficulty!r}.")
    return value


class InterviewEngine:
    def __init__(
        self,
        grader: GraderLike,
        index,
        db: InterviewDB,
        settings: Settings,
        clock: Callable[[], datetime] | None = None,
    ):
        self.grader = grader
        self.index = index
        self.db = db
        self.settings = settings
        self._clock = clock or (lambda: datetime.now(UTC))
        self._catalog: list[GuideQuestion] | None = None
        self._catalog_lock = threading.Lock()

    # -- the question bank ------------------------------------------------------------------

    @property
    def catalog(self) -> list[GuideQuestion]:
        """The guide's questions with topic, difficulty and key points (built on first use)."""
        with self._catalog_lock:
            if self._catalog is None:
                catalog = build_catalog(self.index.units, self.grader.rubric)
                if not catalog:
                    raise InputError("The corpus has no guide questions to interview on. Index the guide first.")
                self._idf = term_idf(self.index.unit(q.id).text for q in catalog)
                self._by_id = {q.id: q for q in catalog}
                self._catalog = catalog
            return self._catalog

    def question(self, question_id: str) -> GuideQuestion:
        self.catalog  # noqa: B018 - builds the lookup tables
        try:
            return self._by_id[question_id]
        except KeyError:
            raise InputError(f"Question {question_id} is not in the guide this index was built from.") from None

    def topics(self) -> list[str]:
        return list(topics_of(self.catalog))

    @property
    def _titles(self) -> dict[str, str]:
        return {q.id: q.title for q in self.catalog}

    # -- a session ----------------------------------------------------------------------------

    def start(
        self,
        user: str,
        topics: Sequence[str] | None = None,
        difficulty: str = "any",
        length: int | str | None = 5,
    ) -> Turn:
        """Open a session and return its first question."""
        user = check_user(user)
        difficulty = check_difficulty(difficulty)
        planned = check_length(length)
        chosen = resolve_topics(topics, self.catalog)
        now = self._clock()
        records = self.db.mastery(user)
        first = choose_next([q.candidate for q in self.catalog], records, (), now, chosen or None, difficulty)
        if first is None:
            where = f"topics {', '.join(chosen)}" if chosen else "any topic"
            raise InputError(f"No guide question is {difficulty} in {where}. Choose another difficulty or topic.")
        session = Session(secrets.token_hex(6), user, chosen, difficulty, planned, ACTIVE, now, now)
        turn = self._main_turn(session.id, 1, self.question(first.question_id), now)
        self.db.create_session(session, turn)
        return turn

    def _main_turn(self, session_id: str, position: int, question: GuideQuestion, now: datetime) -> Turn:
        text = question.title
        if leaks(text, question.key_points, given=question.title):  # a rephrasing would be checked here
            raise AssertionError(f"question text for {question.id} states its own key points")
        return Turn(session_id, position, question.id, MAIN, text, now, topic=question.topic,
                    difficulty=question.difficulty)

    def answer(self, session_id: str, text: str, user: str) -> TurnResult:
        """Grade the answer to the pending question; return the grade and what comes next."""
        session = self._owned(session_id, user)
        if session.status != ACTIVE:
            raise InputError(f"Session {session.id} is finished. Start a new one.")
        turn = session.pending_turn
        if turn is None:
            raise InputError(f"Session {session.id} has no question waiting for an answer.")
        if not isinstance(text, str):
            raise InputError("An answer must be text.")
        question = self.question(turn.question_id)
        text, notices = self._clip(text)
        graded_text = text
        main_turn = turn
        if turn.kind == FOLLOW_UP:
            main_turn = session.turns[-2]
            graded_text = f"{main_turn.answer or ''}\n\n{text}".strip()
        grade = self.grader.grade(question.id, graded_text, feedback="template")
        if notices:
            grade = replace(grade, notices=tuple(grade.notices) + notices)
        now = self._clock()
        answered = replace(turn, answer=text, grade=grade, answered=now)
        turns = session.turns[:-1] + (answered,)

        next_turn: Turn | None = None
        finish = False
        updates: list[MasteryRecord] = []
        if turn.kind == MAIN and wants_follow_up(grade):
            next_turn = self._follow_up_turn(session.id, turn.position + 1, question, grade, now)
        else:
            assert main_turn.grade is not None or turn.kind == MAIN
            main_score = grade.score if turn.kind == MAIN else main_turn.grade.score  # type: ignore[union-attr]
            score = question_score(main_score, grade.score if turn.kind == FOLLOW_UP else None)
            records = self.db.mastery(session.user)
            record = records.get(question.id) or MasteryRecord(question.id, question.topic)
            updates = [update_mastery(record, score, now)]
            records[question.id] = updates[0]
            scores = [o.score for o, _ in outcomes(replace(session, turns=turns), self._titles)]
            if session.length is not None:
                finish = len(scores) >= session.length
            else:
                finish = adaptive_should_stop(scores)
            if not finish:
                asked_topics: dict[str, int] = {}
                for t in turns:
                    if t.kind == MAIN:
                        asked_topics[t.topic] = asked_topics.get(t.topic, 0) + 1
                nxt = choose_next([q.candidate for q in self.catalog], records, {t.question_id for t in turns}, now,
                                  session.topics or None, session.difficulty, asked_topics)
                if nxt is None:
                    finish = True  # every allowed question was asked
                else:
                    next_turn = self._main_turn(session.id, turn.position + 1, self.question(nxt.question_id), now)
        self.db.record_answer(answered, updates, session.user, next_turn, finish, now)
        after = replace(session, turns=turns + ((next_turn,) if next_turn else ()),
                        status=FINISHED if finish else ACTIVE, updated=now)
        return TurnResult(answered, next_turn, finish, summarise(after, self._titles) if finish else None)

    def _clip(self, text: str) -> tuple[str, tuple[str, ...]]:
        limit = self.settings.max_answer_chars
        if len(text) <= limit:
            return text, ()
        return text[:limit], (f"answer truncated to {limit} characters",)

    def _follow_up_turn(self, session_id: str, position: int, question: GuideQuestion, grade: Grade,
                        now: datetime) -> Turn:
        point = missed_point_to_ask(grade)
        assert point is not None
        asked = follow_up(question.title, point, grade.missed, self._idf, variant=position)
        return Turn(session_id, position, question.id, FOLLOW_UP, asked.text, now, topic=question.topic,
                    difficulty=question.difficulty, focus=point.citation)

    def end(self, session_id: str, user: str) -> Summary:
        """Stop a session early; what was answered stays."""
        session = self._owned(session_id, user)
        if session.status == ACTIVE:
            now = self._clock()
            self.db.finish_session(session.id, now)
            session = replace(session, status=FINISHED, updated=now)
        return summarise(session, self._titles)

    # -- reading back -------------------------------------------------------------------------

    def _owned(self, session_id: str, user: str | None) -> Session:
        """The session, if it is `user`'s. Someone else's and a missing one get the same
        message, so ids cannot be probed; no user at all is refused, never waved through."""
        name = check_user(user)
        sid = str(session_id or "").strip()
        session = self.db.load_session(sid) if sid else None
        if session is None or session.user != name:
            raise InputError(f"No interview session {sid!r} for user {name}. See `coach history --user {name}`.")
        return session

    def session(self, session_id: str, user: str) -> Session:
        return self._owned(session_id, user)

    def resume(self, user: str, session_id: str | None = None) -> Turn:
        """The pending question of the user's latest unfinished session (or of `session_id`)."""
        if session_id:
            session = self._owned(session_id, user)
        else:
            name = check_user(user)
            found = self.db.latest_active(name)
            if found is None:
                raise InputError(f"{name} has no unfinished interview. Start one with `coach interview --user {name}`.")
            session = found
        if session.status != ACTIVE:
            raise InputError(f"Session {session.id} is finished. Start a new one.")
        turn = session.pending_turn
        if turn is None:
            raise InputError(f"Session {session.id} has no question waiting for an answer.")
        return turn

    def summary(self, session_id: str, user: str) -> Summary:
        return summarise(self._owned(session_id, user), self._titles)

    def history(self, user: str) -> list[SessionInfo]:
        """The user's sessions, newest first."""
        sessions = self.db.sessions(check_user(user))
        return [session_info(s, self._titles) for s in reversed(sessions)]

    def export(self, session_id: str, fmt: str = "markdown", *, user: str) -> str:
        if fmt not in (*FORMATS, "md"):
            raise InputError(f"Export format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
        session = self._owned(session_id, user)
        return render(session, summarise(session, self._titles), self._titles, fmt)

    def mastery(self, user: str) -> list[TopicMastery]:
        """Per-topic mastery for a progress chart, topics in guide order."""
        return topic_mastery(self.db.mastery(check_user(user)), topics_of(self.catalog), self._clock())


__all__ = ["InterviewEngine", "wants_follow_up", "missed_point_to_ask", "check_length", "check_difficulty", "check_user"]
