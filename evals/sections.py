"""The evaluations `evals.run` runs, one function each: context in, a JSON-ready dict out."""

from __future__ import annotations

import importlib.util
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from coach.config import Settings
from coach.evaluation.batch import BatchResult, grade_batch, guide_topics
from coach.evaluation.batch_file import read_batch_file
from coach.evaluation.metrics import agreement
from coach.evaluation.report import write_report
from coach.evaluation.retrieval_eval import evaluate_retrieval, read_retrieval_queries
from evals.convert_mohler import SOURCE as MOHLER_SOURCE
from evals.convert_mohler import convert

RETRIEVAL_MODES = ("hybrid", "dense", "bm25")
WATCHED_LEVELS = ("injection", "wrong")  # levels whose *maximum* score matters: a leak shows there first
LATENCY_GRADE_ANSWERS = 40
CHAT_PROBE = 2  # answers timed to estimate what the whole chat set would cost
RESERVE_S = 60.0  # kept back for the latency section and writing the report
PUBLISHED_MOHLER = {"Mohler et al. 2011": {"pearson": 0.52}, "Sultan et al. 2016": {"pearson": 0.59, "rmse": 0.89}}


@dataclass
class EvalContext:
    coach: Any  # coach.wiring.Coach
    settings: Settings
    work_dir: Path
    evals_dir: Path
    workers: int = 1
    mohler_limit: int = 0
    chat_limit: int = 0
    deadline: float | None = None  # time.monotonic() by which the run should be done
    model_ids: dict[str, str] = field(default_factory=dict)
    chat_latency: dict[str, Any] = field(default_factory=dict)  # filled by the chat section
    chat_latency_n: tuple[int, int] = (0, 0)  # (questions, answers the LLM generated)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _median_ms(values: list[float]) -> float | None:
    return round(statistics.median(values) * 1000, 1) if values else None


def _batch_summary(result: BatchResult, out: Path) -> dict[str, Any]:
    report = write_report(result, out)
    return report.data.summary


# --- retrieval ---------------------------------------------------------------------------

def retrieval(context: EvalContext) -> dict[str, Any]:
    path = context.evals_dir / "retrieval_dev.jsonl"
    queries = read_retrieval_queries(path)
    retriever = context.coach.retriever
    return {"file": path.name, "n": len(queries),
            "modes": {mode: evaluate_retrieval(retriever, queries, mode, k=5) for mode in RETRIEVAL_MODES}}


# --- grading agreement on the dev set ----------------------------------------------------

def grading(context: EvalContext) -> dict[str, Any]:
    """The grader against the graded dev set's heldout split (fit questions are for calibration)."""
    return _heldout_agreement(context, "graded_dev.jsonl")


def grading_reference(context: EvalContext) -> dict[str, Any]:
    """The same for answers graded against a reference the row gives (reference_dev.jsonl:
    questions outside the guide, teacher-style references); nothing is fitted on it."""
    return _heldout_agreement(context, "reference_dev.jsonl")


def grading_student(context: EvalContext) -> dict[str, Any]:
    """The same for classroom-style short answers (student_dev.jsonl: one- or two-sentence
    references, many terse answers); nothing is fitted on it."""
    return _heldout_agreement(context, "student_dev.jsonl")


def _heldout_agreement(context: EvalContext, filename: str) -> dict[str, Any]:
    source = context.evals_dir / filename
    rows = _read_jsonl(source)
    heldout = [r for r in rows if r.get("split") == "heldout"]
    out = context.work_dir / f"{source.stem}_heldout"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "heldout.jsonl"
    columns = ("id", "question", "answer", "human_score", "reference")
    path.write_text("".join(json.dumps({k: r[k] for k in columns if k in r}) + "\n" for r in heldout),
                    encoding="utf-8")
    batch = read_batch_file(path)
    result = grade_batch(batch, context.coach.grader, out, topics=guide_topics(context.coach.index.units),
                         workers=context.workers, fresh=True)
    summary = _batch_summary(result, out)
    level_of = {r["id"]: r["level"] for r in heldout}
    by_level: dict[str, list[tuple[float, float]]] = {}
    for item in result.items:
        by_level.setdefault(level_of[item.id], []).append((item.score, float(item.human_score)))
    levels = {
        level: {"n": len(pairs), "mean_human": round(statistics.mean(h for _, h in pairs), 2),
                "mean_grader": round(statistics.mean(s for s, _ in pairs), 2), "max_grader": max(s for s, _ in pairs)}
        for level, pairs in sorted(by_level.items())
    }
    figures = agreement([i.score for i in result.items], [i.human_score for i in result.items], 10)
    return {
        "file": source.name, "split": "heldout", "n_rows": len(rows), "n_heldout": len(heldout),
        "n_graded": len(result.items), "skipped": [s.to_json() for s in result.skipped],
        "agreement": figures, "levels": levels,
        "watched_max": {level: levels.get(level, {}).get("max_grader") for level in WATCHED_LEVELS},
        "grade_seconds_median": summary.get("grade_seconds_median"),
        "report": str(out / "report.html"),
    }


# --- grounded chat -----------------------------------------------------------------------

def chat(context: EvalContext) -> dict[str, Any]:
    if importlib.util.find_spec("coach.evaluation.chat_eval") is None:
        return {"status": "not available", "reason": "coach.evaluation.chat_eval does not exist"}
    from coach.evaluation.chat_eval import evaluate_chat, read_chat_rows

    path = context.evals_dir / "chat_dev.jsonl"
    rows = read_chat_rows(path)
    chat_service = context.coach.chat
    context.model_ids["llm"] = str(getattr(context.coach.llm, "name", type(context.coach.llm).__name__))
    step, why = _chat_sampling(context, chat_service, rows)
    subsample = None
    if step > 1:
        subsample = f"SUBSAMPLED: one question in {step}, {len(rows[::step])} of {len(rows)} ({why})"
        rows = rows[::step]
    figures = evaluate_chat(chat_service, rows)
    context.chat_latency = figures.get("latency_ms") or {}
    items = figures.pop("items", [])
    context.chat_latency_n = (len(rows), sum(1 for i in items if (i.get("timings") or {}).get("first_token_ms") is not None))
    return {"file": path.name, "n": len(rows), "subsample": subsample, "figures": figures, "items": items}


def _chat_sampling(context: EvalContext, chat_service: Any, rows: list[dict]) -> tuple[int, str]:
    """(k, reason): answer every k-th question. k > 1 only when asked (--chat-limit) or when
    answering every question would overrun the time budget, estimated from two timed answers."""
    if context.chat_limit and context.chat_limit < len(rows):
        return -(-len(rows) // context.chat_limit), "--chat-limit"
    if context.deadline is None:
        return 1, ""
    probe = [_time(lambda r=r: chat_service.answer(r["q"])) for r in rows[:CHAT_PROBE]]
    per_question = statistics.mean(probe)
    left = context.deadline - time.monotonic() - RESERVE_S
    fits = int(left / per_question) if per_question > 0 else len(rows)
    if fits >= len(rows):
        return 1, ""
    step = -(-len(rows) // max(fits, 1))
    return step, (f"time budget: {per_question:.1f} s per answer on this machine now, {max(left, 0):.0f} s left "
                  f"of --budget-minutes")


# --- latency -----------------------------------------------------------------------------

def _time(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def latency(context: EvalContext) -> dict[str, Any]:
    """Medians per step on this machine, warm (one untimed call first). First token and
    full answer come from the chat section's timings (every chat_dev question), so the
    LLM is not run twice."""
    coach = context.coach
    queries = [q.text for q in read_retrieval_queries(context.evals_dir / "retrieval_dev.jsonl")]
    coach.retriever.search(queries[0], k=5)
    retrieve = [_time(lambda q=q: coach.retriever.search(q, k=context.settings.retrieval_k)) for q in queries]
    graded = [r for r in _read_jsonl(context.evals_dir / "graded_dev.jsonl") if r.get("split") == "heldout"]
    picks = graded[:: max(1, len(graded) // LATENCY_GRADE_ANSWERS)][:LATENCY_GRADE_ANSWERS]
    coach.grader.grade(picks[0]["question"], picks[0]["answer"])
    grade = [_time(lambda r=r: coach.grader.grade(r["question"], r["answer"])) for r in picks]
    steps: dict[str, Any] = {
        "retrieve": {"median_ms": _median_ms(retrieve), "n": len(retrieve), "how": "HybridRetriever.search, k=retrieval_k"},
        "grade": {"median_ms": _median_ms(grade), "n": len(grade), "how": "Grader.grade, template feedback"},
    }
    chat_latency = context.chat_latency
    if chat_latency:
        n_questions, n_generated = context.chat_latency_n
        steps["first_token"] = {"median_ms": _round_ms(chat_latency.get("first_token_median")), "n": n_generated,
                                "how": "GroundedChat.answer, question in to first generated token (chat section; "
                                       "refusals generate nothing)"}
        steps["full_answer"] = {"median_ms": _round_ms(chat_latency.get("generated_total_median")), "n": n_generated,
                                "how": f"question in to the whole cited answer, max_new_tokens "
                                       f"{context.settings.max_new_tokens} (chat section; generated answers)"}
        steps["any_reply"] = {"median_ms": _round_ms(chat_latency.get("total_median")), "n": n_questions,
                              "how": "question in to the reply, refusals included (chat section)"}
    else:
        steps["first_token"] = steps["full_answer"] = {"median_ms": None, "how": "not measured: the chat section did not run"}
    return {"steps": steps}


def _round_ms(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


# --- Mohler et al. 2011 ------------------------------------------------------------------

def mohler(context: EvalContext) -> dict[str, Any]:
    """The grader as a black box on an external set: reference = desired_answer, 0-5 scale."""
    out = context.work_dir / "mohler"
    conversion = convert(MOHLER_SOURCE, out / "mohler.csv")
    batch = read_batch_file(conversion.dest, human_scale=5)
    subsample = None
    if context.mohler_limit and context.mohler_limit < len(batch.rows):
        # Every k-th row, so each of the 81 questions stays represented.
        step = -(-len(batch.rows) // context.mohler_limit)
        batch = replace(batch, rows=batch.rows[::step])
        subsample = f"SUBSAMPLED: one answer in {step}, {len(batch.rows)} of {conversion.n_written} (--mohler-limit)"
    result = grade_batch(batch, context.coach.grader, out, workers=context.workers, fresh=True)
    summary = _batch_summary(result, out)
    figures = agreement([i.score for i in result.items], [i.human_score for i in result.items], human_top=5)
    return {
        "source": str(MOHLER_SOURCE), "conversion": {k: v for k, v in conversion.to_json().items() if k != "dest"},
        "subsample": subsample, "n_graded": len(result.items), "skipped": [s.to_json() for s in result.skipped],
        "mapping": "grader score / 2 (0-10 -> 0-5, linear, nothing fitted on Mohler)",
        "agreement": figures, "published": PUBLISHED_MOHLER,
        "mean_score_0_5": round(summary["mean_score"] / 2, 3) if summary.get("mean_score") is not None else None,
        "grade_seconds_median": summary.get("grade_seconds_median"), "grading_seconds": round(result.seconds, 1),
        "report": str(out / "report.html"),
    }


# Order matters: the fixed-cost sections first, then chat (which fits the time that is left),
# then latency (which reuses the chat section's timings).
SECTIONS: dict[str, Callable[[EvalContext], dict[str, Any]]] = {
    "retrieval": retrieval,
    "grading": grading,
    "grading_reference": grading_reference,
    "grading_student": grading_student,
    "mohler": mohler,
    "chat": chat,
    "latency": latency,
}
