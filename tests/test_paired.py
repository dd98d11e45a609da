"""Paired differences between two student settings (metrics/paired.py) against hand-worked values."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from tokendistill.metrics.paired import TEST_EXAMPLES, Verdict, paired_comparison, verdict

# Two seeds (rows) of four test examples (columns), chosen by hand.
A = [[1, 1, 1, 0], [1, 1, 0, 1]]  # accuracy 0.75, 0.75
B = [[1, 0, 1, 0], [1, 0, 0, 0]]  # accuracy 0.5, 0.25


def test_two_seeds_four_examples_hand_worked():
    p = paired_comparison(A, B)
    # Per-seed differences 0.25 and 0.5: mean 0.375. For two values the standard error of the mean is
    # |x1 - x2| / 2 = 0.125, and t(0.975, df=1) = 12.706 (a t table), so the interval is 0.375 +- 1.588.
    t = stats.t.ppf(0.975, df=1)
    assert t == pytest.approx(12.706, abs=1e-3)
    assert p.mean == pytest.approx(0.375)
    assert (p.seed_low, p.seed_high) == pytest.approx((0.375 - t * 0.125, 0.375 + t * 0.125))
    assert (p.a_better_seeds, p.seeds, p.examples) == (2, 2, 4)
    # Correctness averaged over seeds: A = (1, 1, 1/2, 1/2), B = (1, 0, 1/2, 0); per-example differences
    # d = (0, 1, 0, 1/2). A bootstrap resample averages 4 draws of d. Lower end: all four draws are 0 with
    # probability (1/2)^4 = 1/16 > 2.5%, so the 2.5th percentile is 0. Upper end: a mean above 3/4 needs
    # three 1s and a 1/2 (4 orders) or four 1s: (4 + 1) / 4^4 = 1.95% <= 2.5%, while a mean of at least 3/4
    # adds three 1s and a 0 (4 orders x 2 zeros) and two 1s and two 1/2s (6 orders): 19/256 = 7.4% > 2.5%,
    # so the 97.5th percentile is 3/4.
    assert (p.test_low, p.test_high) == (0.0, 0.75)
    # Neither interval excludes 0.
    assert p.verdict == Verdict("not resolved")
    assert p.verdict.text() == "not resolved (no interval excludes 0)"


def test_swapping_a_and_b_negates_the_difference():
    forward, backward = paired_comparison(A, B), paired_comparison(B, A)
    assert backward.mean == pytest.approx(-0.375)
    assert (backward.seed_low, backward.seed_high) == pytest.approx((-forward.seed_high, -forward.seed_low))
    assert (backward.test_low, backward.test_high) == (-0.75, 0.0)
    assert backward.a_better_seeds == 0


def test_resolved_by_both_intervals_hand_worked():
    a = [[1, 1, 1, 1]] * 3  # accuracy 1 on every seed
    b = [[1, 1, 0, 0], [0, 1, 1, 0], [1, 1, 1, 0]]  # accuracy 0.5, 0.5, 0.75
    p = paired_comparison(a, b)
    # Per-seed differences 0.5, 0.5, 0.25: mean 5/12, sample sd sqrt(((1/12)^2 * 2 + (1/6)^2) / 2)
    # = sqrt(1/48), standard error sqrt(1/48) / sqrt(3) = 1/12; t(0.975, df=2) = 4.303, so the interval is
    # 5/12 +- 0.3586.
    t = stats.t.ppf(0.975, df=2)
    assert t == pytest.approx(4.303, abs=1e-3)
    assert p.mean == pytest.approx(5 / 12)
    assert (p.seed_low, p.seed_high) == pytest.approx((5 / 12 - t / 12, 5 / 12 + t / 12))
    assert p.seed_low == pytest.approx(0.0581, abs=1e-4)
    # Averaged over seeds: A = (1, 1, 1, 1), B = (2/3, 1, 2/3, 0): d = (1/3, 0, 1/3, 1). Four draws of 0
    # (probability 1/256 = 0.4%) are below 2.5%; at most one 1/3 and the rest 0 ((1 + 4 x 2) / 256 = 3.5%)
    # passes it, so the 2.5th percentile is a mean of (1/3) / 4 = 1/12 > 0.
    assert p.test_low == pytest.approx(1 / 12)
    assert p.test_low <= 5 / 12 <= p.test_high <= 1
    assert p.a_better_seeds == 3
    assert p.verdict == Verdict("better", ("seeds", "test examples"))
    assert p.verdict.text() == "better (intervals over seeds and over test examples above 0)"


def test_identical_settings_give_a_zero_interval_and_no_verdict():
    p = paired_comparison(A, A)
    assert (p.mean, p.seed_low, p.seed_high, p.test_low, p.test_high) == (0, 0, 0, 0, 0)
    assert p.a_better_seeds == 0
    assert p.verdict.word == "not resolved"


def test_one_seed_has_no_seed_interval_but_the_test_examples_can_resolve():
    # A right on all 4 examples, B wrong on all: every resample's difference is 1.
    p = paired_comparison([[1, 1, 1, 1]], [[0, 0, 0, 0]])
    assert p.mean == 1 and math.isnan(p.seed_low) and math.isnan(p.seed_high)
    assert (p.test_low, p.test_high) == (1, 1)
    assert p.verdict == Verdict("better", (TEST_EXAMPLES,))
    assert p.verdict.text() == "better (interval over test examples above 0)"
    worse = paired_comparison([[0, 0, 0, 0]], [[1, 1, 1, 1]])
    assert worse.verdict.text() == "worse (interval over test examples below 0)"
    one_example = paired_comparison([[1], [1]], [[0], [1]])
    assert one_example.mean == 0.5 and math.isnan(one_example.test_low) and math.isnan(one_example.test_high)


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ((0.01, 0.2, -0.1, 0.3), "better (interval over seeds above 0)"),
        ((-0.3, -0.01, -0.2, -0.05), "worse (intervals over seeds and over test examples below 0)"),
        ((math.nan, math.nan, -0.2, 0.1), "not resolved (no interval excludes 0)"),
        ((0.0, 0.1, -0.1, 0.0), "not resolved (no interval excludes 0)"),  # touching 0 does not exclude it
        ((0.01, 0.2, -0.3, -0.1), "not resolved (the intervals disagree)"),
    ],
)
def test_verdict_words(bounds, expected):
    assert verdict(*bounds).text() == expected


def test_settings_must_score_the_same_seeds_and_examples():
    with pytest.raises(ValueError, match=r"same seeds and examples: shapes \(2, 4\) vs \(1, 4\)"):
        paired_comparison(A, B[:1])
    with pytest.raises(ValueError, match="seeds x examples table"):
        paired_comparison([1, 0, 1], [1, 1, 1])
