"""Grading latency: median `grade` time with template feedback and with LLM-worded feedback.

    python -m benchmarks.bench_grade [--repeats N] [--out results.json]

Warm timings (embedder and LLM loaded, key-point embeddings cached, as in a running app);
each answer is new text, so its sentences are embedded every time. Targets on the 2-core
machine: template <= 1 s, LLM feedback <= 4 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from coach.config import REPO_ROOT, load_settings

ANSWERS = [
    (4, "Batch normalization normalizes layer inputs with the batch mean and variance, then applies a learnable "
        "scale and shift. At inference it uses running averages. It speeds up training."),
    (14, "The learning rate sets the step size of each weight update. Too high and training diverges or "
         "oscillates; too low and it converges slowly or gets stuck."),
    (9, "Overfitting is when the model does well on training data but badly on new data. Use dropout, "
        "augmentation, early stopping and a validation set."),
    (24, "Causal LM predicts the next token from the left context only; masked LM predicts masked tokens "
         "using both sides."),
    (33, "RAG retrieves relevant documents from a vector store and gives them to the LLM, which reduces "
         "hallucinations and lets it use recent and private data with sources."),
]


def time_grades(grader, feedback: str, repeats: int) -> list[float]:
    timings = []
    for n in range(repeats):
        for question, answer in ANSWERS:
            text = f"{answer} (run {n})"  # new text each time: nothing of the answer is cached
            started = time.perf_counter()
            grader.grade(question, text, feedback=feedback)
            timings.append(time.perf_counter() - started)
    return timings


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Grading latency.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    from coach.wiring import build_coach

    settings = load_settings(overrides={"corpus_path": REPO_ROOT / "corpus"})
    coach = build_coach(settings)
    grader = coach.grader
    for question, answer in ANSWERS:  # warm-up: loads the embedder, caches rubrics
        grader.grade(question, answer)
    template = time_grades(grader, "template", args.repeats)
    rows = [("template feedback", template)]
    llm_name = ""
    try:
        llm_name = getattr(coach.llm, "name", "")
        grader.grade(ANSWERS[0][0], ANSWERS[0][1], feedback="llm")  # warm-up: loads the LLM
        rows.append(("LLM feedback", time_grades(grader, "llm", max(1, args.repeats // 2))))
    except Exception as exc:  # a missing LLM backend is reported, not fatal for the template figure
        llm_name = f"unavailable ({type(exc).__name__}: {exc})"

    results = {"llm": llm_name, "embedder": coach.embedder.model_id, "runs": {}}
    print("## Grading\n")
    print(f"Warm `grade` latency; embedder {coach.embedder.model_id}; LLM {llm_name or 'n/a'}.\n")
    print("| mode | n | median s | p90 s | target |")
    print("|---|---|---|---|---|")
    for (label, timings), target in zip(rows, ("<= 1 s", "<= 4 s"), strict=False):
        median = statistics.median(timings)
        p90 = sorted(timings)[int(0.9 * (len(timings) - 1))]
        results["runs"][label] = {"n": len(timings), "median_s": round(median, 3), "p90_s": round(p90, 3)}
        print(f"| {label} | {len(timings)} | {median:.2f} | {p90:.2f} | {target} |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
