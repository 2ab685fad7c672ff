"""The load test's memory figures, on hand-made samples."""

from __future__ import annotations

import math

from benchmarks.bench_load import LoadResult


def _result(samples: list[tuple[float, float]]) -> LoadResult:
    return LoadResult(users=1, seconds=60, calls=[], rss_mb=samples, queue=[])


def test_the_trend_is_the_slope_of_the_last_half_in_mb_per_minute():
    climbing = _result([(t, 900 + 2 * t / 60) for t in range(0, 601, 10)])
    assert math.isclose(climbing.memory_slope(), 2.0, rel_tol=1e-9)


def test_warm_up_growth_in_the_first_half_does_not_count_as_a_trend():
    plateau = _result([(t, 900 + min(t, 200) / 10) for t in range(0, 601, 10)])
    first, last = plateau.memory_thirds()
    assert first < last == 920.0  # the thirds see the climb
    assert plateau.memory_slope() == 0.0


def test_too_few_samples_give_no_trend():
    assert math.isnan(_result([(0, 900), (1, 901)]).memory_slope())
