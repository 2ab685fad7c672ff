"""Which llama.cpp weight type to run the packaged Q4_1 model in: speed against fidelity.

    python -m benchmarks.probe_quant [--types Q4_1,Q8_0,Q4_0,Q4_K_M,F16] [--runs 3]

Not part of `make bench` (it converts the model several times, ~2 min); docs/llm-runtime.md
records its output. For each type: the packaged file converted once (Q4_1 is the file itself),
then time to evaluate a 600-token prompt (the issue's prompt size), greedy decode speed over 64
tokens, and perplexity on the first 5,400 tokens of the guide. A requantized 4-bit type is
faster only if llama.cpp has a batched kernel for it, and every requantization from 4-bit loses
something; the perplexity column says how much.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from coach.config import REPO_ROOT, load_settings
from coach.llm.factory import llm_cache_dir, packaged_gguf_path
from coach.llm.llamacpp import convert_gguf, import_llama_cpp

GUIDE = REPO_ROOT / "corpus" / "deep-learning-interview-guide.txt"
PROMPT_TOKENS = 600
WINDOW = 900  # perplexity window (tokens)
WINDOWS = 6


def load(llama_cpp, path: Path, threads: int, logits_all: bool = False):
    return llama_cpp.Llama(model_path=str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                           n_batch=512, n_ubatch=512, flash_attn=True, logits_all=logits_all, verbose=False)


def prompt_seconds(llm, tokens: list[int], runs: int) -> float:
    times = []
    for _ in range(runs):
        llm.reset()
        started = time.perf_counter()
        llm.eval(tokens)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def decode_rate(llm, tokens: list[int], n: int = 64) -> float:
    llm.reset()
    llm.eval(tokens[:100])
    started = time.perf_counter()
    for _ in range(n):
        llm.eval([llm.sample(temp=0)])
    return n / (time.perf_counter() - started)


def perplexity(llm, tokens: list[int]) -> float:
    total, count = 0.0, 0
    for start in range(0, WINDOW * WINDOWS, WINDOW):
        window = tokens[start:start + WINDOW]
        llm.reset()
        llm.eval(window)
        logits = np.array(llm.scores[: len(window)], dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        total -= float(logp[np.arange(len(window) - 1), window[1:]].sum())
        count += len(window) - 1
    return float(np.exp(total / count))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", default="Q4_1,Q8_0,Q4_0,Q4_K_M,F16")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    llama_cpp = import_llama_cpp()
    source = packaged_gguf_path()
    settings = load_settings()
    text = GUIDE.read_text(encoding="utf-8")
    print(f"{source.name}, {args.threads} threads, flash attention, n_batch/n_ubatch 512; median of {args.runs}\n")
    print(f"| weights | file MB | {PROMPT_TOKENS}-token prompt s | decode tok/s | guide perplexity |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for kind in [t.strip().upper() for t in args.types.split(",") if t.strip()]:
            if kind == "Q4_1":
                path = source
            elif kind == "Q8_0":
                path = convert_gguf(source, "Q8_0", llm_cache_dir(settings))  # the default's own file
            else:
                path = convert_gguf(source, kind, Path(scratch))
            llm = load(llama_cpp, path, args.threads)
            tokens = llm.tokenize(text.encode("utf-8"))
            seconds = prompt_seconds(llm, tokens[:PROMPT_TOKENS], args.runs)
            rate = statistics.median(decode_rate(llm, tokens) for _ in range(args.runs))
            del llm
            scorer = load(llama_cpp, path, args.threads, logits_all=True)
            ppl = perplexity(scorer, tokens)
            del scorer
            print(f"| {kind} | {path.stat().st_size / 2**20:.0f} | {seconds:.2f} | {rate:.1f} | {ppl:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
