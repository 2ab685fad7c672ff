"""`coach interview`, `coach history`, `coach export`: mock interviews in the terminal.

An answer is read from standard input line by line and ends with an empty line. `/skip`
submits an empty answer, `/quit` or end of input (Ctrl-D) leaves: every answer given so far is
already saved, and `coach interview --user NAME --resume` continues at the same question.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import typer

from coach.cli.common import print_json, settings_from

SKIP = "/skip"
QUIT = "/quit"


def register(app: typer.Typer) -> None:
    app.command("interview")(interview)
    app.command("history")(history)
    app.command("export")(export)


def _engine():
    """The interview engine (a seam for tests)."""
    from coach.wiring import build_coach

    return build_coach(settings_from()).interviews


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()  # a pipe reader (or a person) sees the question before we block on input


def read_answer(stream: TextIO) -> str | None:
    """Lines up to an empty line; None when the user leaves (end of input or /quit first)."""
    lines: list[str] = []
    while True:
        line = stream.readline()
        if not line:  # end of input: submit what was typed, else leave
            return "\n".join(lines) if lines else None
        line = line.rstrip("\r\n")
        if not lines and line.strip() == QUIT:
            return None
        if not lines and line.strip() == SKIP:
            return ""
        if not line.strip():
            if lines:
                return "\n".join(lines)
            continue  # blank lines before an answer are not an answer
        lines.append(line)


def _show_question(turn, number: int, planned: str) -> None:
    _say()
    if turn.kind == "follow-up":
        _say(f"Follow-up: {turn.question_text}")
    else:
        of = f" of {planned}" if planned != "adaptive" else ""
        _say(f"Question {number}{of} [{turn.question_id}] ({turn.topic}, {turn.difficulty})")
        _say(turn.question_text)
    _say("Your answer (end with an empty line; /skip to skip, /quit or Ctrl-D to save and leave):")


def _show_grade(result) -> None:
    grade = result.turn.grade
    label = " for your answer and follow-up together" if result.turn.kind == "follow-up" else ""
    _say(f"Score{label}: {grade.score:.1f}/10 ({grade.verdict})")
    covered = [r for r in grade.key_points if r.covered]
    if result.follow_up:
        # The missed points are what the follow-up asks about: naming them here would answer it.
        _say(f"You covered {len(covered)} of {len(grade.key_points)} key points.")
        return
    if grade.feedback:  # the grader's own words: covered and missed points, conflicts, citations
        _say(grade.feedback)
    else:
        for r in grade.key_points:
            _say(f"  {'+' if r.covered else '-'} {r.point.text} [{r.point.citation}]")
    for notice in grade.notices:
        _say(f"note: {notice}")


def _show_summary(summary) -> None:
    _say()
    _say(f"Session {summary.session_id} finished.")
    if summary.mean_score is None:
        _say("No question was answered.")
        return
    _say(f"Overall: {summary.mean_score:.1f}/10 over {len(summary.questions)} question(s).")
    for topic in summary.topics:
        _say(f"  {topic.topic}: {topic.mean:.1f}/10 ({topic.questions})")
    if summary.strongest:
        _say("Strongest points:")
        for p in summary.strongest:
            _say(f"  + {p.text} [{p.citation}]")
    if summary.weakest:
        _say("Weakest points:")
        for p in summary.weakest:
            _say(f"  - {p.text} [{p.citation}]")
    if summary.reading:
        _say("What to read:")
        for r in summary.reading:
            _say(f"  [{r.citation}] {r.question_title}")


def interview(
    user: str = typer.Option(..., "--user", help="Your name; sessions and progress are kept per user."),
    topics: list[str] | None = typer.Option(
        None, "--topics", help="Guide sections to draw from (comma-separated or repeated); default all."
    ),
    difficulty: str = typer.Option("any", "--difficulty", help="easy, medium, hard or any."),
    length: str = typer.Option("5", "--length", help="Number of questions, or 'adaptive'."),
    resume: bool = typer.Option(False, "--resume", help="Continue your last unfinished session."),
) -> None:
    """Run a mock interview in the terminal; answers end with an empty line."""
    engine = _engine()
    turn = engine.resume(user) if resume else engine.start(user, topics, difficulty, length)
    session = engine.session(turn.session_id, user=user)
    _say(f"Session {session.id} for {session.user}" + (" (resumed)" if resume else "") + ".")
    try:
        _run(engine, session, turn, user)
    except KeyboardInterrupt:
        _say(f"\nInterrupted. Every graded answer is saved. Continue with: coach interview --user {session.user} --resume")
        raise typer.Exit(130) from None


def _run(engine, session, turn, user: str) -> None:
    number = len(session.main_turns)
    while True:
        _show_question(turn, number, session.length_label)
        text = read_answer(sys.stdin)
        if text is None:
            _say(f"Saved. Continue with: coach interview --user {session.user} --resume")
            return
        result = engine.answer(turn.session_id, text, user=user)
        _show_grade(result)
        if result.finished:
            _show_summary(result.summary)
            _say(f"Export it with: coach export {session.id} --user {session.user} --format markdown")
            return
        turn = result.next
        if turn.kind == "main":
            number += 1


def history(
    user: str = typer.Option(..., "--user", help="Whose sessions to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Your past sessions (newest first) and your mastery per topic."""
    engine = _engine()
    sessions = engine.history(user)
    mastery = engine.mastery(user)
    if as_json:
        print_json({
            "sessions": [
                {"id": s.id, "created": s.created.isoformat(), "updated": s.updated.isoformat(), "status": s.status,
                 "topics": list(s.topics), "difficulty": s.difficulty,
                 "length": "adaptive" if s.length is None else s.length, "questions": s.questions,
                 "mean_score": s.mean_score, "scores": list(s.scores)}
                for s in sessions
            ],
            "mastery": [
                {"topic": m.topic, "mastery": m.mastery, "average": m.average, "seen": m.seen, "total": m.total,
                 "due": m.due}
                for m in mastery
            ],
        })
        return
    if not sessions:
        typer.echo(f"No sessions for {user.strip()} yet. Start one with: coach interview --user {user.strip()}")
        return
    for s in sessions:
        mean = "-" if s.mean_score is None else f"{s.mean_score:.1f}"
        topics = ", ".join(s.topics) or "all topics"
        typer.echo(f"{s.id}  {s.created:%Y-%m-%d %H:%M}  {s.status:<8}  {s.questions} question(s)  mean {mean}  ({topics})")
    typer.echo("Mastery by topic:")
    for m in mastery:
        average = "-" if m.average is None else f"{m.average:.1f}"
        typer.echo(f"  {m.topic}: {m.mastery:.0%} (seen {m.seen}/{m.total}, mean {average}, due {m.due})")


def export(
    session_id: str = typer.Argument(..., help="The session id (see `coach history`)."),
    user: str = typer.Option(..., "--user", help="The session's user."),
    fmt: str = typer.Option("markdown", "--format", help="markdown or json."),
    out: Path | None = typer.Option(None, "--out", help="Write to this file instead of standard output."),
) -> None:
    """Export a session as Markdown or JSON."""
    from coach.errors import InputError

    text = _engine().export(session_id, fmt=fmt, user=user)
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Cannot write {out}: {exc.strerror or exc}.") from None
    typer.echo(f"wrote {out}")
