"""`coach grade`: score one answer to a guide question (or against a reference answer)."""

from __future__ import annotations

import typer

from coach.cli.common import print_json, read_text_arg, settings_from
from coach.errors import InputError


def register(app: typer.Typer) -> None:
    app.command("grade")(grade)


def grade(
    question: str = typer.Option(..., "--question", "-q", help="Guide number (4, q04) or the question's text."),
    answer: str = typer.Option(..., "--answer", "-a", help="The answer to grade ('-' reads it from stdin)."),
    reference: str | None = typer.Option(None, "--reference", help="Grade against this reference answer instead."),
    llm_feedback: bool = typer.Option(False, "--llm-feedback", help="Word the feedback with the local LLM."),
    as_json: bool = typer.Option(False, "--json", help="Print the grade as JSON."),
) -> None:
    """Grade an answer 0-10 against the guide's key points, with cited feedback."""
    from coach.wiring import build_coach

    text = read_text_arg(answer)
    if reference == "-" and answer == "-":
        raise InputError("Only one of --answer and --reference can read from stdin.")
    reference_text = read_text_arg(reference) if reference is not None else None
    grader = build_coach(settings_from()).grader
    result = grader.grade(question, text, reference=reference_text, feedback="llm" if llm_feedback else "template")
    if as_json:
        print_json(result.to_json())
        return
    label = f"q{result.question:02d}" if result.question is not None else result.question_id
    typer.echo(f"{label}: {result.question_text}")
    typer.echo(f"Score {result.score:.1f}/10 ({result.verdict})\n")
    for r in result.key_points:
        mark = "+" if r.covered else "-"
        typer.echo(f"  {mark} {r.point.text} [{r.point.citation}]")
    typer.echo(f"\n{result.feedback}")
    typer.echo(f"\nModel answer: {result.model_answer}")
    for notice in result.notices:
        typer.echo(f"note: {notice}", err=True)
