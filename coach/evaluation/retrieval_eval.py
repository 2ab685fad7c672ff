"""Retrieval quality on a JSONL file of {"q": ..., "relevant": [question numbers]}."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from coach.errors import InputError
from coach.evaluation.metrics import mean_reciprocal_rank, recall_at_k
from coach.retrieve import HybridRetriever


@dataclass(frozen=True)
class RetrievalQuery:
    text: str
    relevant: frozenset[int]


def read_retrieval_queries(path: Path) -> list[RetrievalQuery]:
    queries = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            queries.append(RetrievalQuery(str(row["q"]), frozenset(int(n) for n in row["relevant"])))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise InputError(f"{path}:{lineno}: expected {{\"q\": text, \"relevant\": [numbers]}}.") from None
    if not queries:
        raise InputError(f"{path} has no queries.")
    return queries


def evaluate_retrieval(retriever: HybridRetriever, queries: list[RetrievalQuery], mode: str = "hybrid", k: int = 5) -> dict:
    ranked = [
        [_rank_number(hit.chunk.numbers, query.relevant) for hit in retriever.search(query.text, k=max(k, 5), mode=mode)]
        for query in queries
    ]
    relevant = [set(q.relevant) for q in queries]
    return {
        "n": len(queries),
        "recall@1": recall_at_k(ranked, relevant, 1),
        "recall@3": recall_at_k(ranked, relevant, 3),
        "recall@5": recall_at_k(ranked, relevant, 5),
        "mrr": mean_reciprocal_rank(ranked, relevant),
    }


def _rank_number(numbers: tuple[int, ...], relevant: frozenset[int]) -> int:
    """One number per ranked unit: a duplicate question (15 = 21) fills one rank."""
    for number in numbers:
        if number in relevant:
            return number
    return numbers[0] if numbers else -1
