"""Pure metric functions (no I/O), checked against hand-computed values in tests.

Agreement metrics take two equal-length sequences of numbers. When a figure is
undefined (fewer than two pairs, a constant series) it is NaN; the JSON edge
turns NaN into null so a report never claims a correlation it cannot have.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

NAN = float("nan")


def recall_at_k(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> float:
    """Share of queries with any relevant item in the top k."""
    if not ranked:
        return 0.0
    return sum(1 for r, rel in zip(ranked, relevant, strict=True) if rel & set(r[:k])) / len(ranked)


def mean_reciprocal_rank(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]]) -> float:
    """Mean of 1/rank of the first relevant item (0 when none is ranked)."""
    if not ranked:
        return 0.0
    total = 0.0
    for r, rel in zip(ranked, relevant, strict=True):
        for position, item in enumerate(r, start=1):
            if item in rel:
                total += 1.0 / position
                break
    return total / len(ranked)


def _pair(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"expected two equal-length 1-D sequences, got shapes {a.shape} and {b.shape}")
    return a, b


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's r; NaN when either series is constant or has fewer than two values."""
    a, b = _pair(x, y)
    if len(a) < 2:
        return NAN
    da, db = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float(da @ da) * float(db @ db))
    if denominator == 0.0:
        return NAN
    return float(np.clip((da @ db) / denominator, -1.0, 1.0))


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks; tied values share the mean of the ranks they span."""
    a = np.asarray(values, dtype=np.float64)
    _, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)  # the rank of each distinct value's last occurrence
    first = last - counts + 1
    return ((first + last) / 2.0)[inverse.reshape(-1)]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: Pearson's r of the average ranks (the tie-correct form)."""
    a, b = _pair(x, y)
    return pearson(average_ranks(a), average_ranks(b))


def mae(x: Sequence[float], y: Sequence[float]) -> float:
    a, b = _pair(x, y)
    return float(np.abs(a - b).mean()) if len(a) else NAN


def rmse(x: Sequence[float], y: Sequence[float]) -> float:
    a, b = _pair(x, y)
    return float(math.sqrt(((a - b) ** 2).mean())) if len(a) else NAN


def to_bins(scores: Sequence[float], top: int) -> np.ndarray:
    """Round to integer grades 0..top, halves up (4.5 -> 5, unlike Python's round)."""
    a = np.asarray(scores, dtype=np.float64)
    return np.clip(np.floor(a + 0.5), 0, top).astype(np.int64)


def quadratic_weighted_kappa(x: Sequence[float], y: Sequence[float], top: int) -> float:
    """Cohen's kappa with quadratic weights over the integer grades 0..top.

    Both series are binned with `to_bins` first (0-10 for our scores, 0-5 for
    Mohler-scale data). 1 is perfect agreement, 0 is chance level; NaN when the
    expected disagreement is zero (both raters give one and the same grade).
    """
    a, b = _pair(x, y)
    if len(a) == 0:
        return NAN
    ia, ib = to_bins(a, top), to_bins(b, top)
    k = top + 1
    observed = np.zeros((k, k), dtype=np.float64)
    np.add.at(observed, (ia, ib), 1.0)
    expected = np.outer(np.bincount(ia, minlength=k), np.bincount(ib, minlength=k)) / len(a)
    grades = np.arange(k, dtype=np.float64)
    weights = (grades[:, None] - grades[None, :]) ** 2 / float((k - 1) ** 2)
    chance = float((weights * expected).sum())
    if chance == 0.0:
        return NAN
    return float(1.0 - (weights * observed).sum() / chance)


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    x: Sequence[float],
    y: Sequence[float],
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of metric(x, y) over paired resamples (seeded).

    Resamples where the metric is undefined are dropped; (NaN, NaN) when none is defined.
    """
    a, b = _pair(x, y)
    if len(a) < 2:
        return NAN, NAN
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, len(a), size=len(a))
        value = metric(a[pick], b[pick])
        if not math.isnan(value):
            values.append(value)
    if not values:
        return NAN, NAN
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(np.asarray(values), [tail, 100.0 - tail])
    return float(low), float(high)


def median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64))) if len(values) else NAN


def finite_or_none(value: float | None) -> float | None:
    """NaN and infinities become None (JSON null): json.dumps would write invalid NaN."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


SCORE_TOP = 10  # the grader's scale is 0-10


def agreement(grader: Sequence[float], human: Sequence[float], human_top: int = SCORE_TOP, ci: bool = True) -> dict[str, float | None | list]:
    """Grader-vs-human figures, on the human scale.

    Grader scores (0-10) are mapped linearly to 0..human_top (no fitting), so MAE,
    RMSE and QWK are in the human's units; correlations do not depend on the scale.
    """
    g = np.asarray(grader, dtype=np.float64) * (human_top / SCORE_TOP)
    h = np.asarray(human, dtype=np.float64)
    out: dict[str, float | None | list] = {
        "n_pairs": int(len(g)),
        "human_scale": f"0-{human_top}",
        "spearman": finite_or_none(spearman(g, h)),
        "pearson": finite_or_none(pearson(g, h)),
        "mae": finite_or_none(mae(g, h)),
        "rmse": finite_or_none(rmse(g, h)),
        "qwk": finite_or_none(quadratic_weighted_kappa(g, h, human_top)),
    }
    if ci:
        for name, fn in (("spearman", spearman), ("pearson", pearson)):
            low, high = bootstrap_ci(fn, g, h)
            out[f"{name}_ci95"] = [finite_or_none(low), finite_or_none(high)] if low == low else None
    return out
