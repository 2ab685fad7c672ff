"""Feedback text and a model answer, built from the key points the score already decided on.

Template wording is the default: fast, deterministic, and every claim in it is a key point
with its citation. LLM wording is optional: the model only rephrases the same covered and
missed lists, its text is checked (citations must be the question's own chunk ids, no score
talk, bounded length) and the template is used whenever the check fails. Neither can
change the score or which points count as covered.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from coach.grading.contradiction import Conflict
from coach.grading.model import KeyPointResult

log = logging.getLogger(__name__)

MAX_LISTED = 4  # points named per list in the feedback
MODEL_ANSWER_POINTS = 8
POINT_CHARS = 110
_CITATION = re.compile(r"\[([A-Za-z0-9][\w.-]*)\]")
_SCORE_TALK = re.compile(r"\b\d+(\.\d+)?\s*(/|out of)\s*10\b|\bscore\b", re.IGNORECASE)


def _short(text: str, limit: int = POINT_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _cite(citation: str) -> str:
    return f" [{citation}]" if citation else ""


def _ranked(results: list[KeyPointResult], covered: bool) -> list[KeyPointResult]:
    chosen = [r for r in results if r.covered == covered]
    # Most important first; among equals, the order of the guide.
    return sorted(chosen, key=lambda r: -r.point.weight)[:MAX_LISTED]


def template_feedback(results: list[KeyPointResult], conflicts: list[Conflict], score: float,
                      no_answer: bool = False) -> str:
    if no_answer:
        missed = _ranked(results, covered=False)
        lines = ["No answer to grade. Start from these points:"]
        lines += [f"- {_short(r.point.text)}{_cite(r.point.citation)}" for r in missed]
        return "\n".join(lines)
    covered = _ranked(results, covered=True)
    missed = _ranked(results, covered=False)
    lines = []
    if covered:
        lines.append("You covered:")
        lines += [f"- {_short(r.point.text)}{_cite(r.point.citation)}" for r in covered]
    else:
        lines.append("None of the guide's key points came through clearly.")
    for conflict in conflicts[:2]:
        lines.append(
            f'Check this: you said "{_short(conflict.sentence, 90)}", but the guide says '
            f'"{_short(conflict.point.text, 90)}"{_cite(conflict.point.citation)}'
        )
    if missed:
        lines.append("To improve, add:" if score >= 4 else "Key points to learn:")
        lines += [f"- {_short(r.point.text)}{_cite(r.point.citation)}" for r in missed]
    return "\n".join(lines)


def model_answer(results: list[KeyPointResult]) -> str:
    """The guide's key points in the guide's order, each with its citation."""
    core = [r.point for r in results if r.point.kind not in ("example", "code")] or [r.point for r in results]
    ranked = sorted(core, key=lambda p: -p.weight)[:MODEL_ANSWER_POINTS]
    keep = {id(p) for p in ranked}
    return " ".join(f"{p.text}{_cite(p.citation)}" for p in core if id(p) in keep)


def check_llm_feedback(text: str, allowed_citations: set[str]) -> str | None:
    """The LLM's text if it passes the checks, else None. A last sentence cut off by the token
    bound is dropped."""
    text = text.strip()
    if text and text[-1] not in ".!?)]\"'":
        whole = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
        text = text[: whole + 1] if whole > 0 else text
    if not 20 <= len(text) <= 1200:
        return None
    cited = set(_CITATION.findall(text))
    if not cited or not cited <= allowed_citations:
        return None
    if _SCORE_TALK.search(text):
        return None  # the score is not the model's to state
    return text


def llm_feedback(
    generate: Callable[[list[tuple[str, str]]], str],
    messages: list[tuple[str, str]],
    allowed_citations: set[str],
    fallback: str,
) -> tuple[str, bool]:
    """(feedback, used_llm). `generate` takes (role, content) pairs and returns text."""
    try:
        text = generate(messages)
    except Exception as exc:  # a failed wording step must not lose the grade; the template stands in
        log.warning("LLM feedback failed (%s); using the template.", type(exc).__name__)
        return fallback, False
    checked = check_llm_feedback(text, allowed_citations)
    return (checked, True) if checked else (fallback, False)


__all__ = ["template_feedback", "model_answer", "check_llm_feedback", "llm_feedback"]
