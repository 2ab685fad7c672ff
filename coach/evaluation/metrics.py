"""Pure metric functions (no I/O), checked against hand-computed values in tests."""

from __future__ import annotations

from typing import Sequence


def recall_at_k(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> float:
    """Share of queries with any relevant item in the top k."""
    if not ranked:
        return 0.0
    return sum(1 for r, rel in zip(ranked, relevant) if rel & set(r[:k])) / len(ranked)


def mean_reciprocal_rank(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]]) -> float:
    """Mean of 1/rank of the first relevant item (0 when none is ranked)."""
    if not ranked:
        return 0.0
    total = 0.0
    for r, rel in zip(ranked, relevant):
        for position, item in enumerate(r, start=1):
            if item in rel:
                total += 1.0 / position
                break
    return total / len(ranked)
