"""LLM runtime benchmark: load time, time to first token, decode speed, peak RSS.

    python -m benchmarks.bench_llm --out benchmarks/results/llm.json

Each backend runs in its own subprocess (so peak RSS is its own): first a
`--prepare` pass that builds any cache (converted weights) and reports a cold
load, then the measured pass: a warm load, one untimed warm-up answer, and
`--runs` answers to different ~600-token RAG prompts that share a system prompt,
as the app's do. Medians are reported. Timings are wall clock and depend on what
else the machine is doing, so the load average is recorded next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BACKENDS = ("llamacpp", "transformers-bf16", "transformers-fp32", "auto")
ANCHOR, DEFAULT = "llamacpp", "auto"

SYSTEM = (
    "You are an ML interview coach. Answer the question using only the guide passages below. "
    "Cite every claim with the passage number in brackets, like [2]. If the passages do not "
    "contain the answer, say so. Explain step by step, in full sentences, for a candidate."
)
PASSAGES = [
    "Batch normalization normalizes each feature over the mini-batch using its mean and variance, then "
    "applies a learned scale and shift. It reduces sensitivity to initialization, allows higher learning "
    "rates and adds mild regularization. At inference time running averages replace batch statistics.",
    "Dropout randomly zeroes activations with probability p during training and rescales the rest by "
    "1/(1-p). It prevents co-adaptation of units and approximates averaging an ensemble of thinned "
    "networks. At test time all units are kept and no rescaling is needed with inverted dropout.",
    "Vanishing gradients occur when repeated multiplication by small derivatives shrinks the gradient in "
    "early layers. Sigmoid and tanh saturate, making it worse. ReLU activations, residual connections, "
    "careful initialization such as He or Xavier, and normalization layers all mitigate the problem.",
    "The Adam optimizer keeps exponential moving averages of the gradient and of its square, corrects "
    "their initialization bias, and divides the first by the square root of the second. It adapts the "
    "step size per parameter; AdamW decouples weight decay from this adaptive update.",
    "Attention computes a weighted sum of value vectors, with weights from the softmax of scaled dot "
    "products between a query and the keys. Scaling by the square root of the key dimension keeps the "
    "logits in a range where the softmax still has useful gradients. Multi-head attention runs several.",
    "Overfitting means the model fits noise in the training data and generalizes poorly. Signs are a "
    "growing gap between training and validation loss. Remedies include more data, augmentation, weight "
    "decay, dropout, early stopping, and reducing model capacity.",
    "Cross-entropy loss measures the negative log-likelihood of the true class under the predicted "
    "distribution. With a softmax output its gradient with respect to the logits is simply the predicted "
    "probabilities minus the one-hot target, which makes optimization well behaved.",
    "Learning rate warmup starts training with a small learning rate and increases it over the first "
    "steps. Early updates with large rates can destabilize adaptive optimizers whose statistics are not "
    "yet reliable, especially in transformers. Warmup is usually followed by cosine or linear decay.",
]
QUESTIONS = [
    "Why does batch normalization speed up training, and what changes at inference time?",
    "How do residual connections and initialization help against vanishing gradients?",
    "What does dropout do during training and testing, and why does it regularize?",
    "How does Adam adapt the learning rate, and what is different in AdamW?",
    "Why is attention scaled by the square root of the key dimension?",
    "How can you tell a model is overfitting, and what would you try first?",
]


def prompt_for(run: int):
    """Run-specific passages and question (so no run reuses another's KV cache beyond the system prompt)."""
    from coach.llm.base import ChatMessage

    order = PASSAGES[run % len(PASSAGES):] + PASSAGES[: run % len(PASSAGES)]
    context = "\n\n".join(f"[{i}] {text}" for i, text in enumerate(order, 1))
    question = QUESTIONS[run % len(QUESTIONS)]
    return [ChatMessage("system", SYSTEM), ChatMessage("user", f"Guide passages:\n{context}\n\nQuestion: {question}")]


def build(name: str, settings):
    from coach.llm.factory import build_llm, llm_cache_dir, packaged_gguf_path

    if name == "auto":
        return build_llm(settings)
    if name == "llamacpp":  # the anchor: the packaged file with llama-cpp-python's own defaults
        from coach.llm.llamacpp import LlamaCppLLM, LlamaCppOptions

        return LlamaCppLLM(packaged_gguf_path(), threads=settings.threads, context=settings.llm_context,
                           options=LlamaCppOptions.library_defaults())
    from coach.llm.transformers_backend import TransformersLLM

    dtype = {"transformers-bf16": "bfloat16", "transformers-fp32": "float32"}[name]
    return TransformersLLM(packaged_gguf_path(), threads=settings.threads, dtype=dtype, cache_dir=llm_cache_dir(settings))


def worker(name: str, runs: int, max_new_tokens: int, prepare: bool) -> dict:
    from coach.config import load_settings
    from coach.llm.base import GenerationConfig

    settings = load_settings()
    load1 = os.getloadavg()[0]
    start = time.perf_counter()
    llm = build(name, settings)
    llm.load()
    load_s = time.perf_counter() - start
    if prepare:
        return {"backend": name, "load_s": load_s}
    config = GenerationConfig(max_tokens=max_new_tokens, temperature=0.0, seed=0)
    prompt_tokens = llm.count_tokens("\n".join(m.content for m in prompt_for(0)))
    llm.generate(prompt_for(runs), config)  # warm-up, untimed (another prompt)
    samples = []
    for run in range(runs):
        t0 = time.perf_counter()
        first, pieces = None, []
        for piece in llm.stream(prompt_for(run), config):
            if first is None:
                first = time.perf_counter() - t0
            pieces.append(piece)
        total = time.perf_counter() - t0
        tokens = llm.count_tokens("".join(pieces))
        decode = (tokens - 1) / (total - first) if tokens > 1 and total > first else float("nan")
        samples.append({"ttft_s": first, "total_s": total, "new_tokens": tokens, "decode_tok_s": decode})
    med = {k: statistics.median(s[k] for s in samples) for k in ("ttft_s", "total_s", "new_tokens", "decode_tok_s")}
    return {
        "backend": name, "model": llm.name, "load_s": load_s, "prompt_tokens": prompt_tokens,
        **med, "t100_s": med["ttft_s"] + 99 / med["decode_tok_s"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": settings.threads, "loadavg_start": load1, "loadavg_end": os.getloadavg()[0], "runs": samples,
    }


def run_worker(name: str, args, prepare: bool) -> dict:
    command = [sys.executable, "-m", "benchmarks.bench_llm", "--worker", name, "--runs", str(args.runs),
               "--max-new-tokens", str(args.max_new_tokens)] + (["--prepare"] if prepare else [])
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=args.timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {"backend": name, "error": f"exit {done.returncode}: {tail}"}
    return json.loads(lines[-1])


def table(results: list[dict]) -> str:
    head = ("| backend | model | load s (cold) | TTFT s | decode tok/s | ~100 tok s | new tok | peak RSS MB | load avg |\n"
            "|---|---|---|---|---|---|---|---|---|")
    rows = []
    for r in results:
        if "error" in r:
            rows.append(f"| {r['backend']} | error: {r['error'][:80]} | | | | | | | |")
            continue
        rows.append(
            f"| {r['backend']} | {r['model']} | {r['load_s']:.2f} ({r.get('cold_load_s', float('nan')):.1f}) "
            f"| {r['ttft_s']:.3f} | {r['decode_tok_s']:.1f} | {r['t100_s']:.2f} | {r['new_tokens']:.0f} "
            f"| {r['peak_rss_mb']:.0f} | {r['loadavg_start']:.1f}-{r['loadavg_end']:.1f} |"
        )
    return "\n".join([head, *rows])


def verdict(results: list[dict]) -> dict:
    by = {r["backend"]: r for r in results if "error" not in r}
    if ANCHOR not in by or DEFAULT not in by:
        return {}
    d, a = by[DEFAULT], by[ANCHOR]
    return {
        "decode_vs_anchor": d["decode_tok_s"] / a["decode_tok_s"],
        "decode_ok": d["decode_tok_s"] >= a["decode_tok_s"],
        "ttft_ok": d["ttft_s"] <= 0.5,
        "t100_ok": d["t100_s"] < 3.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3 (medians)")
    if args.worker:
        print(json.dumps(worker(args.worker, args.runs, args.max_new_tokens, args.prepare)))
        return 0

    results = []
    for name in args.backends.split(","):
        cold = run_worker(name, args, prepare=True)
        result = run_worker(name, args, prepare=False) if "error" not in cold else cold
        result["cold_load_s"] = cold.get("load_s", float("nan"))
        results.append(result)
        print(table([result]).splitlines()[-1], file=sys.stderr)  # progress: the runs take minutes
    report = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
              "max_new_tokens": args.max_new_tokens, "runs": args.runs, "results": results, "targets": verdict(results)}
    print(f"## LLM runtimes\n\n{args.runs} runs per backend (median), each backend in its own process; ~600-token "
          f"RAG prompts (a shared system prompt) and up to {args.max_new_tokens} new tokens; anchor: llama.cpp on the packaged GGUF with the "
          "library's defaults. Why the default is what it is: docs/llm-runtime.md.\n")
    print(table(results))
    print(f"\ntargets (default '{DEFAULT}' vs anchor '{ANCHOR}'): {json.dumps(report['targets'])}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
