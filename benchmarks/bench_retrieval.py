"""Retrieval benchmark: index build, embedding throughput, warm query latency on the
guide and on a synthetic corpus of 100k chunks (exact vs HNSW, with HNSW's recall
against exact search).

    python -m benchmarks.bench_retrieval [--quick] [--chunks N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from coach.config import REPO_ROOT, load_settings
from coach.corpus import DOCUMENT, Chunk, load_corpus
from coach.embed import build_embedder
from coach.indexing import ensure_index
from coach.retrieve import HybridRetriever
from coach.store import Entry, Index, make_vector_index

QUERIES = [
    "why does my loss blow up to NaN", "what is BN and why use it", "how do I pick a batch size",
    "dropout?", "pretraining vs finetuning", "how does RAG reduce hallucinations",
    "difference between semantic and instance segmentation", "what does zero_grad do",
    "how to handle class imbalance", "explain the learning rate", "what is federated learning",
    "quantization of LLMs", "how do transformers generate text", "vanishing gradients",
]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def time_queries(retriever: HybridRetriever, queries: list[str], repeats: int) -> list[float]:
    for query in queries[:3]:
        retriever.search(query, k=5)  # warm-up
    timings = []
    for _ in range(repeats):
        for query in queries:
            started = time.perf_counter()
            retriever.search(query, k=5)
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def synthetic_corpus(n: int, embedder, seed: int = 0) -> tuple[list[Chunk], np.ndarray]:
    """n chunks, each three of the guide's sentences recombined: realistic vocabulary and length.

    Embedding 100k texts would take most of the benchmark's time on 2 cores, so each chunk's
    vector is the normalised mean of its sentences' vectors (each sentence embedded once);
    embedding throughput is measured separately on real chunk texts.
    """
    guide = load_corpus(REPO_ROOT / "corpus")
    sentences = sorted({s.strip() for c in guide for s in c.text.replace("\n", " ").split(". ") if len(s.split()) > 4})
    sentence_vectors = embedder.embed(sentences)
    rng = np.random.default_rng(seed)
    picks = np.stack([rng.choice(len(sentences), size=3, replace=False) for _ in range(n)])
    vectors = sentence_vectors[picks].mean(axis=1)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [
        Chunk(id=f"syn-{i}", kind=DOCUMENT, title=f"Synthetic {i}", section="synthetic",
              text=". ".join(sentences[j] for j in row) + ".", source="synthetic", span=(i, i))
        for i, row in enumerate(picks)
    ]
    return chunks, np.ascontiguousarray(vectors, dtype=np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="20k synthetic chunks instead of 100k")
    parser.add_argument("--chunks", type=int, default=0)
    args = parser.parse_args(argv)
    n_synthetic = args.chunks or (20_000 if args.quick else 100_000)
    rows = []

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(overrides={"index_dir": Path(tmp) / "index"}, environ={})
        embedder = build_embedder(settings)
        started = time.perf_counter()
        embedder.embed(["warm up"])
        load_s = time.perf_counter() - started
        builds = []
        for _ in range(3):
            started = time.perf_counter()
            index, _ = ensure_index(settings, embedder, rebuild=True)
            builds.append(time.perf_counter() - started)
        retriever = HybridRetriever(index, embedder)
        guide_ms = time_queries(retriever, QUERIES, repeats=5)
        rows.append(("guide", f"{index.vectors.ntotal}", type(index.vectors).__name__,
                     f"{statistics.median(builds):.2f} s", f"{percentile(guide_ms, 50):.1f}", f"{percentile(guide_ms, 95):.1f}", "exact"))

    chunks, vectors = synthetic_corpus(n_synthetic, embedder)
    texts = [f"{c.title}\n{c.text}" for c in chunks[:1000]]
    started = time.perf_counter()
    embedder.embed(texts)
    throughput = len(texts) / (time.perf_counter() - started)
    entries = [Entry(c.id, c.id, "body") for c in chunks]
    query_vectors = embedder.embed(QUERIES)
    exact_ids = None
    for label, threshold in (("exact", 10**9), ("approximate", 0)):
        started = time.perf_counter()
        vector_index = make_vector_index(vectors, approximate_from=threshold)
        build_s = time.perf_counter() - started
        synthetic_index = Index({c.id: c for c in chunks}, entries, vector_index, {})
        retriever = HybridRetriever(synthetic_index, embedder)
        timings = time_queries(retriever, QUERIES, repeats=3)
        _, ids = vector_index.search(query_vectors, 10)
        if exact_ids is None:
            exact_ids, recall = ids, "1.000 (reference)"
        else:
            hits = sum(len(set(a) & set(b)) for a, b in zip(ids, exact_ids, strict=True))
            recall = f"{hits / exact_ids.size:.3f} recall@10 vs exact"
        rows.append((f"synthetic {label}", f"{n_synthetic}", type(vector_index).__name__, f"{build_s:.2f} s (+ embedding)",
                     f"{percentile(timings, 50):.1f}", f"{percentile(timings, 95):.1f}", recall))

    print("## Retrieval\n")
    print(f"Embedder load {load_s:.1f} s; embedding throughput {throughput:.0f} chunks/s "
          f"({len(texts)} synthetic chunks of ~60 words, batch 64, CPU); synthetic vectors are means of "
          "embedded guide sentences (see the module docstring). Query latency is warm and includes "
          "query embedding, FAISS search, BM25 and fusion (k=5).\n")
    print("| corpus | vectors | index | build | query p50 ms | query p95 ms | recall |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
