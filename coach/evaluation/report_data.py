"""What a batch report says, computed from graded items (pure; the writers only format it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from coach.evaluation.batch import BatchResult, GradedItem
from coach.evaluation.metrics import SCORE_TOP, agreement, finite_or_none, mae, median, spearman

WORST_SHOWN = 10
MIN_PAIRS_FOR_RHO = 5  # a rank correlation over fewer pairs says nothing
EXCERPT_CHARS = 300


@dataclass(frozen=True)
class ReportData:
    summary: dict[str, Any]
    per_question: list[dict[str, Any]]
    per_topic: list[dict[str, Any]]
    per_candidate: list[dict[str, Any]]
    worst: list[dict[str, Any]]  # the largest grader-vs-human disagreements
    histogram: list[int]  # counts of grader scores in bins [0,1), [1,2), ..., [9,10]
    items: list[GradedItem]
    skipped: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "per_question": self.per_question,
            "per_topic": self.per_topic,
            "per_candidate": self.per_candidate,
            "worst_disagreements": self.worst,
            "skipped": self.skipped,
            "items": [item.to_json() for item in self.items],
        }


def on_human_scale(score: float, human_scale: int) -> float:
    """Our 0-10 score mapped linearly onto the human's scale (no fitting)."""
    return score * human_scale / SCORE_TOP


def build_report_data(result: BatchResult, ci: bool = True) -> ReportData:
    items = result.items
    scores = [i.score for i in items]
    paired = [i for i in items if i.human_score is not None]
    summary: dict[str, Any] = {
        "source": str(result.source),
        "n": len(items),
        "n_skipped": len(result.skipped),
        "n_resumed": result.n_resumed,
        "n_graded_now": result.n_graded,
        "mean_score": _round(float(np.mean(scores))) if scores else None,
        "median_score": _round(median(scores)) if scores else None,
        "std_score": _round(float(np.std(scores))) if scores else None,
        "verdicts": dict(Counter(i.verdict for i in items).most_common()),
        "n_with_human": len(paired),
        "human_scale": f"0-{result.human_scale}",
        "grade_seconds_median": _round(median([i.seconds for i in items if i.seconds is not None]), 4)
        if any(i.seconds is not None for i in items) else None,
        "seconds": round(result.seconds, 2),
        "notices": _notices(result, paired),
    }
    if len(paired) >= 2:
        figures = agreement([i.score for i in paired], [i.human_score for i in paired], result.human_scale, ci=ci)
        summary.update({k: _round(v) if isinstance(v, float) else _round_list(v) for k, v in figures.items() if k != "human_scale"})
    return ReportData(
        summary=summary,
        per_question=_groups(items, lambda i: i.question_id if i.question_id != "custom" else i.question_text, result.human_scale,
                             extra=lambda group: {"question_id": group[0].question_id, "question_text": group[0].question_text,
                                                  "topic": group[0].topic}),
        per_topic=_groups(items, lambda i: i.topic, result.human_scale, extra=lambda group: {"topic": group[0].topic}),
        per_candidate=_candidates(items, result.human_scale),
        worst=_worst(paired, result.human_scale),
        histogram=histogram(scores),
        items=items,
        skipped=[s.to_json() for s in result.skipped],
    )


def histogram(scores: Iterable[float]) -> list[int]:
    """Counts per unit bin over 0-10; a 10 falls in the last bin."""
    counts = [0] * SCORE_TOP
    for score in scores:
        counts[min(int(max(score, 0.0)), SCORE_TOP - 1)] += 1
    return counts


def _notices(result: BatchResult, paired: list[GradedItem]) -> list[str]:
    notices = []
    if result.skipped:
        notices.append(f"{len(result.skipped)} row(s) skipped; see the skipped list for line numbers and reasons.")
    if result.human_scale == SCORE_TOP and len(paired) >= 20 and max(i.human_score or 0 for i in paired) <= 5:
        notices.append("Every human score is 5 or less: if they are on a 0-5 scale, re-run with --human-scale 5.")
    if 0 < len(paired) < 2:
        notices.append("Agreement figures need at least two rows with a human score.")
    return notices


def _groups(items: list[GradedItem], key: Callable[[GradedItem], str], human_scale: int,
            extra: Callable[[list[GradedItem]], dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[GradedItem]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return [{**extra(group), **_figures(group, human_scale)} for group in groups.values()]


def _figures(group: list[GradedItem], human_scale: int) -> dict[str, Any]:
    scores = [i.score for i in group]
    paired = [i for i in group if i.human_score is not None]
    out: dict[str, Any] = {
        "n": len(group),
        "mean_score": _round(float(np.mean(scores))),
        "min_score": min(scores),
        "max_score": max(scores),
    }
    if paired:
        grader = [on_human_scale(i.score, human_scale) for i in paired]
        human = [i.human_score for i in paired]
        out["mean_human"] = _round(float(np.mean(human)))
        out["mae"] = _round(mae(grader, human))
        out["spearman"] = _round(finite_or_none(spearman(grader, human))) if len(paired) >= MIN_PAIRS_FOR_RHO else None
    return out


def _candidates(items: list[GradedItem], human_scale: int) -> list[dict[str, Any]]:
    if not any(i.candidate for i in items):
        return []
    by_candidate: dict[str, list[GradedItem]] = {}
    for item in items:
        by_candidate.setdefault(item.candidate or "(none)", []).append(item)
    rows = []
    for name, group in sorted(by_candidate.items()):
        topic_means = {t: float(np.mean([i.score for i in group if i.topic == t])) for t in {i.topic for i in group}}
        weakest = min(sorted(topic_means), key=topic_means.get)
        rows.append({"candidate": name, **_figures(group, human_scale), "weakest_topic": weakest,
                     "weakest_topic_mean": _round(topic_means[weakest])})
    return rows


def _worst(paired: list[GradedItem], human_scale: int) -> list[dict[str, Any]]:
    def gap(item: GradedItem) -> float:
        return abs(on_human_scale(item.score, human_scale) - float(item.human_score or 0.0))

    ranked = sorted(paired, key=lambda i: (-gap(i), i.line))[:WORST_SHOWN]
    return [
        {
            "line": i.line, "id": i.id, "question_id": i.question_id, "question": i.question_text,
            "answer_excerpt": _excerpt(i.answer), "score": i.score,
            "score_on_human_scale": _round(on_human_scale(i.score, human_scale)),
            "human_score": i.human_score, "gap": _round(gap(i)),
        }
        for i in ranked
    ]


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


def _round(value: float | None, digits: int = 3) -> float | None:
    value = finite_or_none(value)
    return None if value is None else round(value, digits)


def _round_list(value: Any) -> Any:
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value
