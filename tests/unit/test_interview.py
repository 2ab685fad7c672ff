"""Interview sessions with a fake grader: schedule rules, the flow, the leak check, storage."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import threading
from datetime import UTC, datetime, timedelta

import pytest

from coach.errors import InputError, StorageError
from coach.grading.model import Grade, KeyPoint, KeyPointResult
from coach.interview import asking
from coach.interview.asking import content_terms, follow_up, leaks, question_subject, term_idf
from coach.interview.catalog import build_catalog, resolve_topics
from coach.interview.db import SCHEMA_VERSION, InterviewDB
from coach.interview.engine import InterviewEngine, wants_follow_up
from coach.interview.model import FOLLOW_UP, MAIN
from coach.interview.schedule import (
    ADAPTIVE_CAP,
    MIN_EASE,
    Candidate,
    MasteryRecord,
    adaptive_should_stop,
    choose_next,
    question_difficulty,
    question_score,
    rank_candidates,
    topic_mastery,
    update_mastery,
)
from coach.prompts.interview import FALLBACK_FOLLOW_UP
from coach.store import Index

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
_WORD = re.compile(r"[a-z0-9]+")


# -- fakes ------------------------------------------------------------------------------------


class FakeGrader:
    """The Grader contract on plain word overlap: a point is covered when the answer has at
    least half of its content words. Deterministic, no models."""

    def __init__(self, index: Index):
        self.index = index
        self.calls: list[tuple[str, str]] = []

    def resolve_question(self, ref):
        return self.index.unit(ref)

    def rubric(self, question_id: str) -> list[KeyPoint]:
        unit = self.index.unit(question_id)
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", unit.text) if len(s.split()) >= 4]
        return [KeyPoint(text=s, citation=unit.id, quote=s, weight=1.0) for s in sentences[:6] if "```" not in s]

    def grade(self, question, answer, reference=None, feedback="template") -> Grade:
        self.calls.append((question, answer))
        points = self.rubric(question)
        said = set(content_terms(answer))
        results = []
        for point in points:
            terms = set(content_terms(point.text))
            share = len(terms & said) / max(len(terms), 1)
            results.append(KeyPointResult(point, share >= 0.5, point.text if share >= 0.5 else "", round(share, 3)))
        covered = sum(r.covered for r in results)
        score = round(10.0 * covered / max(len(points), 1), 1)
        if not answer.strip():
            verdict = "no answer"
        elif score >= 8:
            verdict = "strong"
        elif score >= 6:
            verdict = "good"
        elif score >= 3:
            verdict = "partial"
        else:
            verdict = "weak"
        unit = self.index.unit(question)
        return Grade(unit.question, unit.id, unit.title, score, verdict, tuple(results), f"{covered} points covered.",
                     (unit.id,), " ".join(p.text for p in points))


class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def index(guide_chunks) -> Index:
    return Index({c.id: c for c in guide_chunks}, [], None, {})


@pytest.fixture
def grader(index) -> FakeGrader:
    return FakeGrader(index)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(grader, index, fake_settings, clock) -> InterviewEngine:
    return InterviewEngine(grader, index, InterviewDB(fake_settings.db_path), fake_settings, clock=clock)


def full_answer(grader: FakeGrader, question_id: str) -> str:
    return " ".join(p.text for p in grader.rubric(question_id))


def partial_answer(grader: FakeGrader, question_id: str) -> str:
    return grader.rubric(question_id)[0].text  # the definition only


# -- schedule: pure functions -----------------------------------------------------------------


def test_sm2_intervals_grow_on_success_and_reset_on_a_lapse():
    record = MasteryRecord("q04", "Training")
    first = update_mastery(record, 9.0, T0)
    second = update_mastery(first, 9.0, T0 + timedelta(days=1))
    third = update_mastery(second, 9.0, T0 + timedelta(days=7))
    assert (first.interval, second.interval) == (1.0, 6.0)
    assert third.interval == pytest.approx(6.0 * second.ease)
    assert third.due == T0 + timedelta(days=7) + timedelta(days=third.interval)
    assert first.ease > record.ease and third.attempts == 3 and third.repetitions == 3
    lapse = update_mastery(third, 2.0, T0 + timedelta(days=30))
    assert lapse.repetitions == 0 and lapse.interval == 1.0 and lapse.ease < third.ease
    assert lapse.last_score == 2.0 and lapse.estimate == pytest.approx(0.5 * 2.0 + 0.5 * third.estimate)


def test_ease_never_drops_below_the_floor_and_scores_are_clamped():
    record = MasteryRecord("q04", "Training")
    for _ in range(20):
        record = update_mastery(record, -5, T0)
    assert record.ease == MIN_EASE and record.last_score == 0.0
    assert update_mastery(record, 50, T0).last_score == 10.0


def test_question_score_gives_half_credit_for_prompted_recall():
    assert question_score(4.0, None) == 4.0
    assert question_score(4.0, 8.0) == 6.0
    assert question_score(6.0, 5.0) == 6.0  # a worse follow-up does not lower the question


def candidates():
    return [
        Candidate("q01", "Fundamentals", "easy", 0),
        Candidate("q02", "Fundamentals", "medium", 1),
        Candidate("q03", "Training", "easy", 2),
        Candidate("q04", "Training", "hard", 3),
        Candidate("q05", "Architectures", "medium", 4),
    ]


def seen(qid: str, topic: str, score: float, due: datetime) -> MasteryRecord:
    return MasteryRecord(qid, topic, due=due, last_score=score, estimate=score, attempts=1)


def test_weak_and_due_questions_come_before_new_ones_then_strong_then_not_due():
    records = {
        "q01": seen("q01", "Fundamentals", 9.0, T0 - timedelta(days=1)),  # due, strong
        "q03": seen("q03", "Training", 2.0, T0 - timedelta(hours=1)),  # due, weak
        "q05": seen("q05", "Architectures", 3.0, T0 + timedelta(days=3)),  # weak but not due
    }
    order = [c.question_id for c in rank_candidates(candidates(), records, (), T0)]
    assert order[0] == "q03"
    assert order[-2:] == ["q01", "q05"]  # due-and-strong, then not-yet-due
    # New questions in the middle, the weakest topic first: Training (2/10) before the unseen-so-far
    # Fundamentals question whose topic is strong (9/10).
    assert order[1:3] == ["q04", "q02"]


def test_next_question_is_never_one_already_asked_and_respects_topics_and_difficulty():
    asked: list[str] = []
    while (nxt := choose_next(candidates(), {}, asked, T0)) is not None:
        assert nxt.question_id not in asked
        asked.append(nxt.question_id)
    assert sorted(asked) == ["q01", "q02", "q03", "q04", "q05"]
    only = rank_candidates(candidates(), {}, (), T0, topics=["Training"], difficulty="easy")
    assert [c.question_id for c in only] == ["q03"]
    assert choose_next(candidates(), {}, ["q03"], T0, topics=["Training"], difficulty="easy") is None


def test_new_questions_rotate_across_topics_within_a_session():
    first = choose_next(candidates(), {}, (), T0)
    second = choose_next(candidates(), {}, [first.question_id], T0, session_topics={first.topic: 1})
    assert first.topic != second.topic


def test_adaptive_length_stops_when_stable_or_at_the_cap():
    assert not adaptive_should_stop([5.0, 5.0])  # too few to judge
    assert adaptive_should_stop([6.0, 6.5, 6.0])  # stable
    assert not adaptive_should_stop([0.0, 10.0, 2.0, 9.0])  # still swinging
    swinging = [0.0, 10.0] * (ADAPTIVE_CAP // 2)
    assert not adaptive_should_stop(swinging[:-1]) and adaptive_should_stop(swinging)


def test_topic_mastery_counts_unseen_questions_as_zero():
    records = {"q01": seen("q01", "Fundamentals", 8.0, T0 - timedelta(days=1))}
    bars = topic_mastery(records, {"Fundamentals": ["q01", "q02"], "Training": ["q03"]}, T0)
    assert bars[0].topic == "Fundamentals" and bars[0].mastery == pytest.approx(0.4)
    assert bars[0].average == 8.0 and (bars[0].seen, bars[0].total, bars[0].due) == (1, 2, 1)
    assert bars[1].mastery == 0.0 and bars[1].average is None


def test_difficulty_rule():
    assert question_difficulty("What are autoencoders?", "word " * 60, 3) == "easy"
    assert question_difficulty("Explain the learning rate.", "word " * 155, 7) == "medium"
    assert question_difficulty("Implement a VAE in Keras.", "word " * 190 + "```python\nx\n```", 2) == "hard"
    assert question_difficulty("What is the difference between A and B?", "word " * 100, 6) == "medium"


def test_every_difficulty_level_occurs_in_the_guide(index, grader):
    catalog = build_catalog(index.units, grader.rubric)
    levels = {q.difficulty for q in catalog}
    assert levels == {"easy", "medium", "hard"}
    assert len(catalog) == 37  # 38 numbered questions, 15 and 21 are one


# -- asking without telling -------------------------------------------------------------------


def point(text: str) -> KeyPoint:
    return KeyPoint(text=text, citation="q04", quote=text)


def test_leak_check_catches_stated_points_but_allows_the_subject():
    p = point("Batch normalization normalizes layer inputs to zero mean and unit variance.")
    title = "What is batch normalization?"
    assert leaks("Does it give the inputs zero mean and unit variance?", [p], given=title)  # trigram
    assert leaks("Is it about variance, mean, inputs, layers and zero?", [p], given=title)  # most words
    assert not leaks(title, [p], given=title)
    assert not leaks('Staying with batch normalization: where does "variance" come into it?', [p], given=title)
    # Without the title as given, naming the subject counts against the text.
    assert leaks("batch normalization normalizes", [p])


def test_every_guide_question_is_leak_free_and_the_check_would_see_a_leak(index, grader):
    catalog = build_catalog(index.units, grader.rubric)
    for question in catalog:
        assert not leaks(question.title, question.key_points, given=question.title), question.id
        for p in question.key_points:
            if set(content_terms(p.text)) - set(content_terms(question.title)):
                assert leaks(f"{question.title} Hint: {p.text}", [p], given=question.title), (question.id, p.text)


def test_every_follow_up_is_leak_free_and_most_name_a_subject(index, grader):
    catalog = build_catalog(index.units, grader.rubric)
    idf = term_idf(index.unit(q.id).text for q in catalog)
    strategies = []
    for question in catalog:
        for n, p in enumerate(question.key_points):
            asked = follow_up(question.title, p, question.key_points, idf, variant=n)
            assert asked.text.endswith(("?", ".")), asked.text
            assert not leaks(asked.text, question.key_points, given=question.title), (question.id, asked.text)
            assert p.text not in asked.text
            strategies.append(asked.strategy)
    assert strategies.count("hint") / len(strategies) > 0.8


def test_follow_up_falls_back_when_every_wording_would_leak():
    p = point("Tokens.")  # one new word: naming it is the whole point
    asked = follow_up("What is a tokenizer?", p, [p], {}, variant=0)
    assert asked.strategy in {"aspect", "fallback"}
    assert not leaks(asked.text, [p], given="What is a tokenizer?")
    assert content_terms(FALLBACK_FOLLOW_UP) == []


def test_question_subject():
    assert question_subject("What is batch normalization?") == "batch normalization"
    assert question_subject("How do you set batch size? Does it matter?") == "how to set batch size"
    assert question_subject("How are weights initialized in neural networks?") == "how weights are initialized in neural networks"
    assert question_subject("Explain gradient descent.") == "gradient descent"
    assert asking.SUBJECT_FALLBACK in question_subject("?")


# -- the engine ---------------------------------------------------------------------------------


def test_a_fixed_length_session_never_repeats_and_ends_with_a_summary(engine, grader):
    turn = engine.start("alice", topics=["fundamentals"], length=5)
    asked = []
    result = None
    while True:
        asked.append((turn.question_id, turn.kind))
        result = engine.answer(turn.session_id, full_answer(grader, turn.question_id), user="alice")
        assert result.grade.score == 10.0 and not result.follow_up
        if result.finished:
            break
        turn = result.next
    main_ids = [q for q, kind in asked if kind == MAIN]
    assert len(main_ids) == len(set(main_ids)) == 3  # the topic has 3 questions: the session ends early
    assert result.summary.mean_score == 10.0
    assert [t.topic for t in result.summary.topics] == ["Deep Learning Fundamentals"]
    with pytest.raises(InputError, match="finished"):
        engine.answer(turn.session_id, "more", user="alice")


def test_a_partial_answer_gets_one_follow_up_about_a_missed_point(engine, grader):
    turn = engine.start("alice", length=2)
    first = engine.answer(turn.session_id, partial_answer(grader, turn.question_id), user="alice")
    assert wants_follow_up(first.grade) and first.follow_up
    follow = first.next
    assert follow.kind == FOLLOW_UP and follow.question_id == turn.question_id
    missed = first.grade.missed
    assert not leaks(follow.question_text, missed, given=engine.question(turn.question_id).title)
    assert follow.focus in {p.citation for p in missed}
    # The follow-up is graded with the main answer; a second partial answer does not get another one.
    second = engine.answer(turn.session_id, "I am not sure.", user="alice")
    assert second.turn.kind == FOLLOW_UP and not second.follow_up and second.next.kind == MAIN
    assert grader.calls[-1][1].startswith(partial_answer(grader, turn.question_id))
    assert second.next.question_id != turn.question_id


def test_strong_and_empty_answers_get_no_follow_up(engine, grader):
    turn = engine.start("alice", length=3)
    strong = engine.answer(turn.session_id, full_answer(grader, turn.question_id), user="alice")
    empty = engine.answer(turn.session_id, "", user="alice")
    assert not strong.follow_up and not empty.follow_up
    assert empty.grade.verdict == "no answer" and empty.next.kind == MAIN


def test_mastery_changes_the_next_sessions_order(engine, grader, clock):
    fresh = engine.start("carol", length=1).question_id
    turn = engine.start("dave", topics=["Deep Learning Fundamentals"], length=3)
    failed = []
    while turn is not None:
        failed.append(turn.question_id)
        result = engine.answer(turn.session_id, "no idea", user="dave")
        turn = result.next
    first_topic_strong = engine.start("erin", topics=["Deep Learning Fundamentals"], length=3)
    while first_topic_strong is not None:
        first_topic_strong = engine.answer(
            first_topic_strong.session_id, full_answer(grader, first_topic_strong.question_id), user="erin").next
    # Right after: nothing is due yet, so the next session starts with a new question; dave's
    # weak topic is not offered first to erin, whose same topic is strong.
    clock.now = T0 + timedelta(days=2)
    again = engine.start("dave", length=1)
    assert again.question_id in failed  # weak and due now: reviewed first
    assert engine.start("erin", length=1).question_id not in failed
    assert fresh == "q01"
    bars = {m.topic: m for m in engine.mastery("dave")}
    assert bars["Deep Learning Fundamentals"].seen == 3 and bars["Deep Learning Fundamentals"].average == 0.0
    assert bars["Deep Learning Fundamentals"].due == 3


def test_adaptive_session_stops_when_scores_are_stable(engine, grader):
    turn = engine.start("alice", length="adaptive")
    count = 0
    while True:
        count += 1
        result = engine.answer(turn.session_id, full_answer(grader, turn.question_id), user="alice")
        if result.finished:
            break
        turn = result.next
    assert count == 3  # identical scores: stable as soon as the minimum is reached


def test_users_are_kept_apart(engine, grader):
    turn = engine.start("alice", length=2)
    engine.answer(turn.session_id, full_answer(grader, turn.question_id), user="alice")
    sid = turn.session_id
    for call in (
        lambda: engine.summary(sid, user="bob"),
        lambda: engine.export(sid, "json", user="bob"),
        lambda: engine.answer(sid, "text", user="bob"),
        lambda: engine.resume("bob", session_id=sid),
        lambda: engine.session(sid, user="bob"),
    ):
        with pytest.raises(InputError, match="No interview session") as err:
            call()
        assert "alice" not in str(err.value)
    assert engine.history("bob") == [] and len(engine.history("alice")) == 1
    with pytest.raises(InputError, match="no unfinished interview"):
        engine.resume("bob")
    assert all(m.seen == 0 for m in engine.mastery("bob"))
    assert re.fullmatch(r"[0-9a-f]{12}", sid)  # random: one user cannot guess another's


def test_resume_after_a_restart_returns_the_pending_question_and_keeps_grades(engine, grader, index, fake_settings):
    turn = engine.start("alice", length=3)
    first = engine.answer(turn.session_id, partial_answer(grader, turn.question_id), user="alice")
    # A new process: a new engine on a new connection to the same file.
    again = InterviewEngine(grader, index, InterviewDB(fake_settings.db_path), fake_settings)
    pending = again.resume("alice")
    assert pending == first.next
    session = again.session(turn.session_id, user="alice")
    assert session.turns[0].grade == first.grade and session.turns[0].answer == first.turn.answer
    assert again.resume("alice", session_id=turn.session_id) == pending


def test_history_and_summary(engine, grader):
    turn = engine.start("alice", length=2)
    first = engine.answer(turn.session_id, partial_answer(grader, turn.question_id), user="alice")
    follow = engine.answer(turn.session_id, "", user="alice")
    last = engine.answer(turn.session_id, full_answer(grader, follow.next.question_id), user="alice")
    assert last.finished
    summary = last.summary
    assert [q.question_id for q in summary.questions] == [turn.question_id, follow.next.question_id]
    assert summary.questions[0].main_score == first.grade.score
    assert summary.weakest and all(not p.covered for p in summary.weakest)
    assert summary.strongest and all(p.covered for p in summary.strongest)
    assert summary.reading and summary.reading[0].citation.startswith("q")
    info = engine.history("alice")[0]
    assert info.status == "finished" and info.questions == 2 and info.mean_score == summary.mean_score


def test_export_formats(engine, grader):
    turn = engine.start("alice", length=1)
    engine.answer(turn.session_id, "# heading inside an answer\n" + partial_answer(grader, turn.question_id), user="alice")
    markdown = engine.export(turn.session_id, "markdown", user="alice")
    assert markdown.startswith(f"# Mock interview {turn.session_id}")
    assert "> # heading inside an answer" in markdown  # the user's text stays quoted
    assert "#### Follow-up" in markdown and "*Not answered yet.*" in markdown
    data = json.loads(engine.export(turn.session_id, "json", user="alice"))
    assert data["session"]["user"] == "alice" and data["session"]["length"] == "1"
    assert data["turns"][0]["grade"]["score"] >= 0 and data["turns"][1]["kind"] == "follow-up"
    assert data["turns"][1]["answer"] is None
    with pytest.raises(InputError, match="markdown, json"):
        engine.export(turn.session_id, "pdf", user="alice")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"user": "  "}, "user name"),
        ({"user": "a", "difficulty": "brutal"}, "Difficulty"),
        ({"user": "a", "length": 0}, "between 1"),
        ({"user": "a", "length": "lots"}, "adaptive"),
        ({"user": "a", "topics": ["cooking"]}, "matches no topic"),
    ],
)
def test_bad_input_is_an_input_error(engine, kwargs, message):
    with pytest.raises(InputError, match=message):
        engine.start(**kwargs)


def test_topics_resolve_by_prefix_or_word(index, grader):
    catalog = build_catalog(index.units, grader.rubric)
    assert resolve_topics(["training", "Advanced Architectures,practical"], catalog) == (
        "Training and Optimization", "Advanced Architectures", "Practical Applications")


def test_no_question_matches_is_a_clear_error(engine):
    with pytest.raises(InputError, match="No guide question is"):
        for level in ("easy", "medium", "hard"):
            engine.start("alice", topics=["fundamentals"], difficulty=level)


def test_concurrent_answers_to_one_question_record_one(engine, grader):
    turn = engine.start("alice", length=5)
    outcomes: list[str] = []

    def answer():
        try:
            engine.answer(turn.session_id, full_answer(grader, turn.question_id), user="alice")
            outcomes.append("ok")
        except InputError:
            outcomes.append("refused")

    threads = [threading.Thread(target=answer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    session = engine.session(turn.session_id, user="alice")
    assert outcomes.count("ok") >= 1
    assert [t.position for t in session.turns] == list(range(1, len(session.turns) + 1))
    assert sum(1 for t in session.turns if t.question_id == turn.question_id) == 1


def test_many_threads_many_sessions(engine, grader):
    errors = []

    def run(name: str):
        try:
            turn = engine.start(name, length=2)
            while turn is not None:
                turn = engine.answer(turn.session_id, full_answer(grader, turn.question_id), user=name).next
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"user{n}",)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(engine.history(f"user{n}")[0].questions == 2 for n in range(8))


# -- storage ------------------------------------------------------------------------------------


def test_db_is_wal_with_foreign_keys_and_a_schema_version(tmp_path):
    db = InterviewDB(tmp_path / "data" / "coach.sqlite3")
    assert db.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(tmp_path / "data" / "coach.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"users", "sessions", "turns", "mastery", "schema_version"} <= tables
    conn.close()
    db.close()
    assert InterviewDB(tmp_path / "data" / "coach.sqlite3").schema_version == SCHEMA_VERSION  # reopen: no re-migration


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "coach.sqlite3"
    InterviewDB(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer version"):
        InterviewDB(path)


def test_corrupt_database_is_a_storage_error(tmp_path):
    path = tmp_path / "coach.sqlite3"
    path.write_bytes(b"this is not sqlite" * 500)
    with pytest.raises(StorageError, match="corrupt.*Move it aside"):
        InterviewDB(path)


def test_truncated_database_is_a_storage_error(tmp_path, engine, grader, fake_settings):
    turn = engine.start("alice", length=3)
    engine.answer(turn.session_id, full_answer(grader, turn.question_id), user="alice")
    engine.db.close()
    for suffix in ("-wal", "-shm"):  # a checkpointed copy: the main file is all there is
        (fake_settings.db_path.parent / (fake_settings.db_path.name + suffix)).unlink(missing_ok=True)
    data = fake_settings.db_path.read_bytes()
    fake_settings.db_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StorageError, match="corrupt"):
        InterviewDB(fake_settings.db_path)


def test_unusable_paths_are_storage_errors(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="data folder"):
        InterviewDB(blocker / "data" / "coach.sqlite3")
    with pytest.raises(StorageError, match="is a folder"):
        InterviewDB(tmp_path)


def _make_read_only(path) -> list:
    """chmod for ordinary users; root ignores modes, so the immutable flag when chattr works."""
    undo = []
    for target in (path, path.parent):
        if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode == 0:
            undo.append(["chattr", "-i", str(target)])
    if not undo:
        path.chmod(0o444)
        path.parent.chmod(0o555)
        undo = [["chmod", "755", str(path.parent)], ["chmod", "644", str(path)]]
    return undo


def test_read_only_database_is_a_storage_error(tmp_path):
    path = tmp_path / "ro" / "coach.sqlite3"
    InterviewDB(path).close()
    undo = _make_read_only(path)
    try:
        try:
            with open(path, "r+b"):
                pytest.skip("cannot make a file read-only here")
        except OSError:
            pass
        with pytest.raises(StorageError, match="read-only"):
            InterviewDB(path)
    finally:
        for command in reversed(undo):
            subprocess.run(command, check=True)


def test_full_database_is_a_storage_error_and_keeps_what_was_saved(engine, grader):
    turn = engine.start("alice", length=3)
    engine.answer(turn.session_id, full_answer(grader, turn.question_id), user="alice")
    saved = engine.session(turn.session_id, user="alice")
    # Cap the file at its current size: the next write finds the "disk" full (SQLITE_FULL).
    pages = engine.db._conn.execute("PRAGMA page_count").fetchone()[0]
    engine.db._conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StorageError, match="full"):
        engine.answer(saved.pending_turn.session_id, "x " * 200_000, user="alice")
    assert engine.session(turn.session_id, user="alice") == saved  # the failed write left nothing half-done


def _grade(covered: list[bool], verdict: str = "good", weights: list[float] | None = None) -> Grade:
    weights = weights or [1.0] * len(covered)
    results = tuple(
        KeyPointResult(KeyPoint(f"point {n}", "q04", f"point {n}", w), c, "", 0.5)
        for n, (c, w) in enumerate(zip(covered, weights, strict=True))
    )
    return Grade(4, "q04", "What is batch normalization?", 5.0, verdict, results, "feedback", ("q04",), "model")


def test_follow_up_rule_is_on_key_points_not_on_the_score():
    assert wants_follow_up(_grade([True, False, False], verdict="strong"))  # high score, points missing
    assert wants_follow_up(_grade([True, True, False, False]))
    assert not wants_follow_up(_grade([True, True, True, False]))  # 75% covered: enough
    assert not wants_follow_up(_grade([False, False]))  # nothing to build on
    assert not wants_follow_up(_grade([True, False], verdict="off-topic"))
    assert wants_follow_up(_grade([True, False, False], weights=[0.5, 1.0, 1.0]))
    assert not wants_follow_up(_grade([True, False], weights=[3.0, 0.5]))  # the missed part is minor


def test_grade_json_withholds_what_the_follow_up_asks(engine, grader):
    turn = engine.start("alice", length=1)
    result = engine.answer(turn.session_id, partial_answer(grader, turn.question_id), user="alice")
    assert result.follow_up
    shown = json.dumps(result.grade_json())
    for missed in result.grade.missed:
        assert missed.text not in shown
    assert result.grade_json()["withheld_points"] == len(result.grade.missed)
    done = engine.answer(turn.session_id, "", user="alice")
    assert done.grade_json() == done.grade.to_json()


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def cli(engine, monkeypatch):
    from typer.testing import CliRunner

    from coach.cli import app, interview_cmds

    monkeypatch.setattr(interview_cmds, "_engine", lambda: engine)
    runner = CliRunner()
    return lambda args, stdin="": runner.invoke(app, args, input=stdin)


def test_read_answer_protocol():
    import io

    from coach.cli.interview_cmds import read_answer

    assert read_answer(io.StringIO("\n\nline one\nline two\n\nnext\n")) == "line one\nline two"
    assert read_answer(io.StringIO("typed then end of input")) == "typed then end of input"
    assert read_answer(io.StringIO("")) is None
    assert read_answer(io.StringIO("/quit\n")) is None
    assert read_answer(io.StringIO("/skip\n")) == ""


def test_cli_session_end_of_input_saves_and_resume_continues(cli, engine, grader):
    first = cli(["interview", "--user", "zoe", "--length", "2", "--topics", "fundamentals"],
                stdin="I would rather not say.\n\n")
    assert first.exit_code == 0, first.output
    assert "Question 1 of 2 [q01]" in first.output and "Saved. Continue with" in first.output
    session = engine.db.latest_active("zoe")
    pending = session.pending_turn
    assert session.turns[0].grade is not None and pending.question_text in first.output

    answer = full_answer(grader, pending.question_id)
    second = cli(["interview", "--user", "zoe", "--resume"], stdin=answer + "\n\n")
    assert second.exit_code == 0, second.output
    assert f"Session {session.id} for zoe (resumed)" in second.output
    assert second.output.index(pending.question_text) < second.output.index("Score")
    assert "finished" in second.output and "Overall:" in second.output

    listed = cli(["history", "--user", "zoe", "--json"])
    data = json.loads(listed.output)
    assert data["sessions"][0]["id"] == session.id and data["sessions"][0]["questions"] == 2
    assert {m["topic"] for m in data["mastery"]} >= {"Deep Learning Fundamentals"}
    assert session.id in cli(["history", "--user", "zoe"]).output


def test_cli_export_to_a_file_and_refuses_another_user(cli, engine, grader, tmp_path):
    turn = engine.start("zoe", length=1)
    engine.answer(turn.session_id, full_answer(grader, turn.question_id), user="zoe")
    out = tmp_path / "export.json"
    done = cli(["export", turn.session_id, "--user", "zoe", "--format", "json", "--out", str(out)])
    assert done.exit_code == 0 and json.loads(out.read_text())["session"]["id"] == turn.session_id
    shown = cli(["export", turn.session_id, "--user", "zoe"])
    assert shown.output.startswith(f"# Mock interview {turn.session_id}")
    refused = cli(["export", turn.session_id, "--user", "yan"])
    assert isinstance(refused.exception, InputError) and "No interview session" in str(refused.exception)
