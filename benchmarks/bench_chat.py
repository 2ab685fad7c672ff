"""Grounded chat latency with the packaged models: a full cited answer (retrieval + up to
--tokens generated tokens, greedy) and the time to its first token; plus a refusal,
which never reaches the model.

    python -m benchmarks.bench_chat [--quick] [--repeats N] [--tokens 100] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from coach.config import load_settings
from coach.wiring import build_coach

QUESTIONS = [
    "What is batch normalization?",
    "What does a pooling layer do in a CNN?",
    "What is gradient clipping?",
    "How does RAG use embeddings and a vector database?",
    "What happens if my learning rate is set too high, or too low?",
    "Explain transfer learning.",
    "What is federated learning and why is it good for privacy?",
    "Why do I have to call optimizer.zero_grad() in every PyTorch training iteration?",
]
OFF_GUIDE = "What is the capital of France?"
TARGET_S = 3.0


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None, scale: float = 1.0, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value * scale:.{digits}f}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="3 questions, 1 repeat")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=100, help="max generated tokens per answer")
    parser.add_argument("--backend", help="llm_backend override (default: the settings' auto)")
    parser.add_argument("--threads", type=int, help="llm_threads override")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    questions = QUESTIONS[:3] if args.quick else QUESTIONS
    repeats = 1 if args.quick else args.repeats

    overrides = {"max_new_tokens": args.tokens, "llm_backend": args.backend, "llm_threads": args.threads}
    settings = load_settings(overrides={k: v for k, v in overrides.items() if v is not None}, environ={})
    coach = build_coach(settings)
    chat = coach.chat
    started = time.perf_counter()
    chat.answer(questions[0])  # loads the embedder and the LLM
    warmup_s = time.perf_counter() - started

    runs = []
    for _ in range(repeats):
        for question in questions:
            answer = chat.answer(question)
            runs.append({
                "question": question, "refused": answer.refused, "grounded": answer.grounded,
                "generated_tokens": chat.llm.count_tokens(answer.raw_text) if answer.raw_text else 0,
                **answer.timings.to_json(),
            })
    refusal = chat.answer(OFF_GUIDE)
    generated = [r for r in runs if r["first_token_ms"] is not None]
    result = {
        "llm": chat.llm.name, "embedder": coach.embedder.model_id, "max_new_tokens": args.tokens,
        "threads": settings.threads, "load_average": os.getloadavg(), "warmup_s": warmup_s,
        "answers": len(runs), "generated_answers": len(generated),
        "grounded_share": sum(r["grounded"] for r in runs) / len(runs),
        "total_ms_median": _median([r["total_ms"] for r in generated]),
        "first_token_ms_median": _median([r["first_token_ms"] for r in generated]),
        "retrieve_ms_median": _median([r["retrieve_ms"] for r in runs]),
        "tokens_per_s_median": _median([r["tokens_per_s"] for r in generated if r["tokens_per_s"]]),
        "generated_tokens_median": _median([r["generated_tokens"] for r in generated]),
        "refusal_total_ms": refusal.timings.total_ms, "refusal_called_llm": refusal.timings.first_token_ms is not None,
        "runs": runs,
    }
    total = result["total_ms_median"]
    print("## Grounded chat\n")
    print(f"{chat.llm.name} with {coach.embedder.model_id}, {settings.threads} thread(s), greedy, up to {args.tokens} "
          f"new tokens; {len(questions)} guide questions x {repeats}; load average at the end "
          f"{result['load_average'][0]:.1f} (the machine is shared). Warm-up (model loads) {warmup_s:.1f} s.\n")
    print("| measure | median |")
    print("|---|---|")
    print(f"| full grounded answer (retrieval + generation + checks) | {_fmt(total, 1e-3, 2)} s "
          f"({'within' if total is not None and total <= TARGET_S * 1000 else 'over'} the {TARGET_S:.0f} s target) |")
    print(f"| first token | {_fmt(result['first_token_ms_median'], 1e-3, 2)} s |")
    print(f"| retrieval | {_fmt(result['retrieve_ms_median'])} ms |")
    print(f"| decoding | {_fmt(result['tokens_per_s_median'])} tokens/s |")
    print(f"| generated tokens per answer | {_fmt(result['generated_tokens_median'])} |")
    print(f"| off-guide refusal (no LLM call) | {result['refusal_total_ms']:.0f} ms |")
    print(f"| answers with a verified citation | {result['grounded_share']:.0%} |")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
