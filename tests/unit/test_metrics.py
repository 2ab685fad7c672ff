"""Each metric against values worked out by hand on tiny examples (the arithmetic is in the comments)."""

import math

import numpy as np
import pytest

from coach.evaluation.metrics import (
    agreement,
    average_ranks,
    bootstrap_ci,
    finite_or_none,
    mae,
    mean_reciprocal_rank,
    pearson,
    quadratic_weighted_kappa,
    recall_at_k,
    rmse,
    spearman,
    to_bins,
)


def test_recall_and_mrr_unchanged():
    ranked = [[3, 1, 2], [5, 6, 7], [9, 8, 4]]
    relevant = [{1}, {7}, {0}]
    assert recall_at_k(ranked, relevant, 1) == 0
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, relevant, 3) == pytest.approx(2 / 3)
    assert mean_reciprocal_rank(ranked, relevant) == pytest.approx((1 / 2 + 1 / 3 + 0) / 3)


def test_pearson_by_hand():
    # deviations (-1.5, -.5, .5, 1.5) and (-.5, -1.5, 1.5, .5): dot 3, squared norms 5 and 5 -> 3/5
    assert pearson([1, 2, 3, 4], [2, 1, 4, 3]) == pytest.approx(0.6)
    assert pearson([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_pearson_undefined_is_nan():
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    assert math.isnan(pearson([1], [1]))
    with pytest.raises(ValueError):
        pearson([1, 2], [1, 2, 3])


def test_average_ranks_share_ties():
    assert average_ranks([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert average_ranks([7, 7, 7]).tolist() == [2.0, 2.0, 2.0]


def test_spearman_by_hand():
    # no ties: rho = 1 - 6*sum(d^2)/(n(n^2-1)) = 1 - 6*2/(4*15) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # a tie: ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4): dot 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(3 / math.sqrt(10))
    # monotone but not linear: still 1
    assert spearman([1, 2, 3, 4], [1, 4, 9, 100]) == pytest.approx(1.0)


def test_mae_and_rmse_by_hand():
    # errors 1, 0, 2
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    assert rmse([1, 2, 3], [2, 2, 5]) == pytest.approx(math.sqrt(5 / 3))
    assert math.isnan(mae([], []))


def test_bins_round_halves_up_and_clamp():
    assert to_bins([4.5, 4.49, 5.5, 0.5, 11, -1], 10).tolist() == [5, 4, 6, 1, 10, 0]
    assert to_bins([2.25, 2.5, 4.75], 5).tolist() == [2, 3, 5]


def test_qwk_two_grades_equals_cohens_kappa():
    # O = [[1,1],[0,2]]; weighted O = 1; E = outer([2,2],[1,3])/4, weighted E = 1.5 + .5 = 2 -> 1 - 1/2
    assert quadratic_weighted_kappa([0, 0, 1, 1], [0, 1, 1, 1], top=1) == pytest.approx(0.5)


def test_qwk_three_grades_by_hand():
    # weights (i-j)^2/4; observed off-diagonal pairs (1,2), (2,1) weigh .25 each -> .5
    # expected: both marginals (1,1,2); 2*(.25*1*1 + 1*1*2 + .25*1*2)/4 = 1.375 -> 1 - .5/1.375 = 7/11
    assert quadratic_weighted_kappa([0, 1, 2, 2], [0, 2, 2, 1], top=2) == pytest.approx(7 / 11)
    assert quadratic_weighted_kappa([0, 1, 2], [0, 1, 2], top=2) == pytest.approx(1.0)


def test_qwk_bins_real_valued_scores():
    # 4.6 -> 5 and 9.5 -> 10, so this is perfect agreement on the 0-10 scale
    assert quadratic_weighted_kappa([4.6, 9.5, 0.2], [5, 10, 0], top=10) == pytest.approx(1.0)


def test_qwk_matches_sklearn_on_random_grades():
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 6, 200), rng.integers(0, 6, 200)
    expected = sklearn.cohen_kappa_score(a, b, weights="quadratic", labels=list(range(6)))
    assert quadratic_weighted_kappa(a, b, top=5) == pytest.approx(expected)


def test_qwk_undefined_when_both_raters_constant():
    assert math.isnan(quadratic_weighted_kappa([3, 3], [3, 3], top=5))


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    x = [1, 2, 3, 4, 5, 6, 7, 8]
    y = [2, 1, 4, 3, 6, 5, 8, 7]
    first = bootstrap_ci(pearson, x, y, resamples=300, seed=3)
    assert first == bootstrap_ci(pearson, x, y, resamples=300, seed=3)
    assert first[0] <= pearson(x, y) <= first[1] <= 1.0
    assert bootstrap_ci(pearson, [1, 2, 3], [2, 4, 6], resamples=50) == pytest.approx((1.0, 1.0))


def test_agreement_maps_grader_to_the_human_scale():
    figures = agreement([10, 0, 5], [5, 0, 2.5], human_top=5, ci=False)
    assert figures["mae"] == pytest.approx(0.0)
    assert figures["rmse"] == pytest.approx(0.0)
    assert figures["pearson"] == pytest.approx(1.0)
    assert figures["qwk"] == pytest.approx(1.0)
    assert figures["human_scale"] == "0-5"
    # grader 8/10 is 4/5: one point off a human 3/5
    assert agreement([8, 0], [3, 0], human_top=5, ci=False)["mae"] == pytest.approx(0.5)


def test_undefined_figures_become_none():
    figures = agreement([5, 5, 5], [1, 2, 3], ci=True)
    assert figures["pearson"] is None and figures["spearman"] is None
    assert finite_or_none(float("inf")) is None and finite_or_none(0.25) == 0.25
