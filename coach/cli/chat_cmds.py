"""`coach ask` (one question, streamed or --json) and `coach chat` (interactive, with history)."""

from __future__ import annotations

import sys
from contextlib import closing

import typer

from coach.cli.common import print_json, read_text_arg, settings_from
from coach.errors import CoachError

QUIT_WORDS = {"quit", "exit", ":q", "/quit", "/exit", "bye"}
HISTORY_TURNS = 4  # question/answer pairs kept for follow-ups


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
    app.command("chat")(chat)


def _grounded_chat(k: int | None, max_tokens: int | None):
    from coach.wiring import build_coach

    return build_coach(settings_from(retrieval_k=k, max_new_tokens=max_tokens)).chat


def ask(
    question: str = typer.Argument(..., help="Your question about the guide ('-' reads it from stdin)."),
    as_json: bool = typer.Option(False, "--json", help="Print the checked answer as JSON instead of streaming."),
    k: int | None = typer.Option(None, "--k", min=1, max=50, help="How many passages to retrieve."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", min=1, max=1024, help="Longest answer, in tokens."),
) -> None:
    """Answer one question from the guide, with citations checked against the retrieved passages."""
    text = read_text_arg(question)
    chat_engine = _grounded_chat(k, max_tokens)
    if as_json:
        print_json(chat_engine.answer(text).to_json())
    else:
        stream_answer(chat_engine, text)


def stream_answer(chat_engine, question: str, history=()):
    """Print tokens as they come, then the checked answer (if checking changed it), sources and notices."""
    streamed = []
    answer = None
    with closing(chat_engine.stream(question, history)) as events:  # closed on Ctrl-C or a broken pipe too
        for event in events:
            if event.kind == "token":
                streamed.append(event.text)
                sys.stdout.write(event.text)
                sys.stdout.flush()
            else:
                answer = event.answer
    sys.stdout.write("\n")
    if " ".join("".join(streamed).split()) != " ".join(answer.text.split()):
        typer.echo(f"\nChecked answer:\n{answer.text}")
    cited = [p for p in answer.passages if p.id in answer.citations]
    if cited:
        typer.echo("\nSources:")
        for p in cited:
            typer.echo(f"  [{p.id}] {p.title}  ({p.section})")
    elif not answer.refused:
        typer.echo("\nSources: none verified.")
    for notice in answer.notices:
        typer.echo(f"note: {notice}", err=True)
    timings = answer.timings
    speed = f", {timings.tokens_per_s:.0f} tok/s" if timings.tokens_per_s else ""
    typer.echo(f"({timings.total_ms / 1000:.1f} s{speed})", err=True)
    return answer


def chat(
    k: int | None = typer.Option(None, "--k", min=1, max=50, help="How many passages to retrieve."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", min=1, max=1024, help="Longest answer, in tokens."),
) -> None:
    """Chat with the guide in the terminal; follow-up questions use the conversation. 'quit' or Ctrl-D ends."""
    from coach.llm.base import ChatMessage

    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")  # stray bytes become U+FFFD instead of an exception
    chat_engine = _grounded_chat(k, max_tokens)
    typer.echo("Ask about the guide. Type 'quit' or press Ctrl-D to leave.", err=True)
    history: list = []
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            typer.echo("", err=True)
            break
        question = line.strip()
        if not question:
            continue
        if question.lower() in QUIT_WORDS:
            break
        try:
            answer = stream_answer(chat_engine, question, tuple(history))
        except CoachError as exc:
            typer.echo(f"error: {exc}", err=True)
            continue
        history += [ChatMessage("user", question), ChatMessage("assistant", answer.text)]
        history = history[-2 * HISTORY_TURNS:]
