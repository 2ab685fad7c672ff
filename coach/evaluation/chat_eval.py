"""Grounded-chat quality on rows {"q": ..., "expected": [question numbers], "in_guide": bool}.

Measures (each row is answered once, greedily, with no history):
- answered_with_valid_citation: share of answers (not refusals) that carry a verified citation.
- citation_precision / citation_recall: ALCE-style, but against gold passage ids instead of
  an NLI judge: per answered in-guide row, |cited & expected| / |cited| (0 when nothing is
  cited) and |cited & expected| / |expected|, macro-averaged.
- off_guide_refused / in_guide_refused: share of off-guide rows correctly refused, share of
  in-guide rows wrongly refused.
- faithfulness: share of answer sentences supported by a passage they cite, micro-averaged
  over judged sentences. "Supported" is coach.citations.sentence_support >= SUPPORT_THRESHOLD:
  the mean recall of the sentence's content words and adjacent content-word pairs in the
  passage. We have no NLI model offline and the small LLM cannot judge; the failure this
  catches is the one the model makes (content words and phrases that are not in the source),
  and it is deterministic. It cannot see a negation or a swapped relation, so it is an
  upper bound on real faithfulness.
- latency: medians (and p95 of the total) in milliseconds, decoding tokens/s.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from coach.chat import ChatAnswer, GroundedChat, retrieval_strength
from coach.citations import supported_sentences
from coach.errors import InputError

Progress = Callable[[int, int], None]


def read_chat_rows(path: Path) -> list[dict]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append({"q": str(row["q"]), "expected": list(row.get("expected") or []), "in_guide": bool(row["in_guide"])})
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputError(f'{path}:{lineno}: expected {{"q": text, "expected": [numbers], "in_guide": true|false}}.') from None
    if not rows:
        raise InputError(f"{path} has no rows.")
    return rows


def unit_ids_by_number(chat: GroundedChat) -> dict[int, str]:
    """Question number -> the unit id retrieval returns (duplicates 15 and 21 map to one unit)."""
    return {n: unit.id for unit in chat.retriever.retriever.units for n in unit.numbers}


def expected_ids(expected: Iterable, numbers: dict[int, str]) -> set[str]:
    out = set()
    for item in expected:
        if isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
            out.add(numbers.get(int(item), f"q{int(item):02d}"))
        else:
            out.add(str(item))
    return out


def precision_recall(cited: Sequence[str], expected: set[str]) -> tuple[float, float]:
    hits = len(set(cited) & expected)
    precision = hits / len(set(cited)) if cited else 0.0
    recall = hits / len(expected) if expected else 0.0
    return precision, recall


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def score_row(row: dict, answer: ChatAnswer, numbers: dict[int, str]) -> dict:
    gold = expected_ids(row["expected"], numbers)
    full = {p.id: p.full_text for p in answer.passages}
    supported, judged = (0, 0) if answer.refused else supported_sentences(answer.text, full)
    item = {
        "q": row["q"], "in_guide": row["in_guide"], "expected": sorted(gold), "refused": answer.refused,
        "grounded": answer.grounded, "citations": list(answer.citations), "removed": list(answer.removed_citations),
        "supported_sentences": supported, "judged_sentences": judged, "relevance": round(answer.relevance, 4),
        "answer": answer.text, "raw": answer.raw_text, "notices": list(answer.notices),
        "timings": answer.timings.to_json(),
    }
    if row["in_guide"] and gold and not answer.refused:
        item["precision"], item["recall"] = precision_recall(answer.citations, gold)
    return item


def evaluate_chat(chat: GroundedChat, rows: list[dict], progress: Progress | None = None) -> dict:
    numbers = unit_ids_by_number(chat)
    items = []
    for n, row in enumerate(rows, start=1):
        items.append(score_row(row, chat.answer(row["q"]), numbers))
        if progress:
            progress(n, len(rows))
    inside = [i for i in items if i["in_guide"]]
    outside = [i for i in items if not i["in_guide"]]
    answered = [i for i in items if not i["refused"]]
    scored = [i for i in inside if "precision" in i]
    judged = sum(i["judged_sentences"] for i in answered)
    totals = [i["timings"]["total_ms"] for i in items]
    generated = [i for i in items if i["timings"]["first_token_ms"] is not None]
    return {
        "n": len(items), "n_in_guide": len(inside), "n_off_guide": len(outside), "n_answered": len(answered),
        "answered_with_valid_citation": _mean([float(i["grounded"]) for i in answered]),
        "citation_precision": _mean([i["precision"] for i in scored]),
        "citation_recall": _mean([i["recall"] for i in scored]),
        "off_guide_refused": _mean([float(i["refused"]) for i in outside]),
        "in_guide_refused": _mean([float(i["refused"]) for i in inside]),
        "faithfulness": sum(i["supported_sentences"] for i in answered) / judged if judged else None,
        "judged_sentences": judged,
        "invented_citation_rate": _mean([float(bool(i["removed"])) for i in answered]),
        "latency_ms": {
            "total_median": _median(totals), "total_p95": _p95(totals),
            "retrieve_median": _median([i["timings"]["retrieve_ms"] for i in items]),
            "first_token_median": _median([i["timings"]["first_token_ms"] for i in generated]),
            "generated_total_median": _median([i["timings"]["total_ms"] for i in generated]),
        },
        "tokens_per_s_median": _median([i["timings"]["tokens_per_s"] for i in generated if i["timings"]["tokens_per_s"]]),
        "min_relevance": chat.min_relevance,
        "items": items,
    }


def relevance_scores(chat: GroundedChat, rows: list[dict]) -> list[tuple[float, bool]]:
    """(retrieval strength, in_guide) per row: what the refusal gate sees, without the LLM."""
    return [(retrieval_strength(chat.retriever.invoke(row["q"])), row["in_guide"]) for row in rows]


def choose_threshold(scored: Sequence[tuple[float, bool]]) -> dict:
    """The refusal threshold with the best balanced accuracy (mean of the in-guide answer
    rate and the off-guide refusal rate); among equals, the middle of the widest gap, so
    the threshold sits as far as the data allow from both kinds of question."""
    inside = [s for s, g in scored if g]
    outside = [s for s, g in scored if not g]
    if not inside or not outside:
        raise InputError("Calibration needs both in-guide and off-guide rows.")
    values = sorted({s for s, _ in scored})
    best = None
    for low, high in zip(values, values[1:], strict=False):
        threshold = (low + high) / 2
        answered = sum(s >= threshold for s in inside) / len(inside)
        refused = sum(s < threshold for s in outside) / len(outside)
        key = ((answered + refused) / 2, high - low)
        if best is None or key > best[0]:
            best = (key, threshold, answered, refused)
    (balanced, gap), threshold, answered, refused = best
    return {"threshold": round(threshold, 4), "balanced_accuracy": balanced, "gap": gap,
            "in_guide_answered": answered, "off_guide_refused": refused,
            "n_in_guide": len(inside), "n_off_guide": len(outside)}


def calibrate_min_relevance(chat: GroundedChat, rows: list[dict]) -> dict:
    return choose_threshold(relevance_scores(chat, rows))
