"""A session as Markdown (to read) or JSON (to process). Pure functions over a Session."""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from coach.errors import InputError
from coach.interview.model import FOLLOW_UP, Session, Summary, Turn, grade_to_json

FORMATS = ("markdown", "json")
JSON_FORMAT_VERSION = 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _turn_json(turn: Turn) -> dict[str, Any]:
    return {
        "position": turn.position,
        "kind": turn.kind,
        "question_id": turn.question_id,
        "topic": turn.topic,
        "difficulty": turn.difficulty,
        "question": turn.question_text,
        "answer": turn.answer,
        "asked": turn.created.isoformat(),
        "answered": turn.answered.isoformat() if turn.answered else None,
        "grade": grade_to_json(turn.grade) if turn.grade is not None else None,
    }


def to_json(session: Session, summary: Summary) -> str:
    data = {
        "format": JSON_FORMAT_VERSION,
        "session": {
            "id": session.id,
            "user": session.user,
            "topics": list(session.topics),
            "difficulty": session.difficulty,
            "length": session.length_label,
            "status": session.status,
            "created": session.created.isoformat(),
            "updated": session.updated.isoformat(),
        },
        "turns": [_turn_json(t) for t in session.turns],
        "summary": _jsonable(dataclasses.asdict(summary)),
    }
    return json.dumps(data, ensure_ascii=False, indent=2)


def _quote(text: str) -> str:
    """User text as a Markdown block quote: it stays data, whatever Markdown it contains."""
    lines = text.strip().splitlines() or [""]
    # Escaped too: a Markdown viewer renders raw HTML, and an answer is never markup.
    return "\n".join(f"> {html.escape(line, quote=False)}".rstrip() for line in lines)


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def to_markdown(session: Session, summary: Summary, titles: Mapping[str, str]) -> str:
    out = [f"# Mock interview {session.id}", ""]
    out.append(
        f"- User: {html.escape(session.user, quote=False)}\n- Started: {session.created:%Y-%m-%d %H:%M} UTC\n- Status: {session.status}\n"
        f"- Topics: {', '.join(session.topics) or 'all'}\n- Difficulty: {session.difficulty}\n"
        f"- Length: {session.length_label}"
    )
    out.append("")
    if summary.mean_score is not None:
        out += [f"**Overall: {summary.mean_score:.1f}/10 over {len(summary.questions)} question(s).**", ""]
        out += ["| Topic | Mean score | Questions |", "| --- | --- | --- |"]
        out += [f"| {_one_line(t.topic)} | {t.mean:.1f} | {t.questions} |" for t in summary.topics]
        out.append("")
    out += ["## Questions", ""]
    number = 0
    for turn in session.turns:
        if turn.kind == FOLLOW_UP:
            out.append(f"#### Follow-up\n\n{turn.question_text}\n")
        else:
            number += 1
            title = titles.get(turn.question_id, turn.question_text)
            out.append(f"### {number}. {title} [{turn.question_id}]\n")
            out.append(f"*{turn.topic}, {turn.difficulty}*\n")
        if turn.answer is None:
            out.append("*Not answered yet.*\n")
            continue
        out.append(_quote(turn.answer) if turn.answer.strip() else "> *(no answer)*")
        out.append("")
        if turn.grade is not None:
            grade = turn.grade
            label = " (answer and follow-up together)" if turn.kind == FOLLOW_UP else ""
            out.append(f"**Score: {grade.score:.1f}/10, {grade.verdict}{label}**\n")
            for result in grade.key_points:
                mark = "x" if result.covered else " "
                out.append(f"- [{mark}] {_one_line(result.point.text)} ({result.point.citation})")
            out += [f"- *Note: {_one_line(n)}*" for n in grade.notices]
            out.append("")
    if summary.strongest:
        out += ["## Strongest points", ""]
        out += [f"- {_one_line(p.text)} ({p.citation})" for p in summary.strongest]
        out.append("")
    if summary.weakest:
        out += ["## Weakest points", ""]
        out += [f"- {_one_line(p.text)} ({p.citation})" for p in summary.weakest]
        out.append("")
    if summary.reading:
        out += ["## What to read", ""]
        out += [f"- [{r.citation}] {_one_line(r.question_title)}: {_one_line(r.why)}" for r in summary.reading]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render(session: Session, summary: Summary, titles: Mapping[str, str], fmt: str) -> str:
    if fmt == "json":
        return to_json(session, summary)
    if fmt in ("markdown", "md"):
        return to_markdown(session, summary, titles)
    raise InputError(f"Export format must be one of {', '.join(FORMATS)}, not {fmt!r}.")


__all__ = ["render", "to_json", "to_markdown", "FORMATS"]
