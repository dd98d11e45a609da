"""Accuracy intervals against hand-worked values, the normal approximation and a coverage simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tokendistill.metrics.bootstrap import Interval, bootstrap_interval, paired_difference, seed_interval


def outcomes(n_correct: int, n: int, seed: int = 0) -> np.ndarray:
    values = np.zeros(n, dtype=bool)
    values[:n_correct] = True
    return np.random.default_rng(seed).permutation(values)


def test_all_right_or_all_wrong_gives_a_point_interval() -> None:
    assert bootstrap_interval([True] * 40) == Interval(1.0, 1.0, 1.0)
    assert bootstrap_interval(np.zeros(40, dtype=bool)) == Interval(0.0, 0.0, 0.0)


def test_two_examples_hand_worked() -> None:
    """Resampling [right, wrong] gives accuracy 0, 1/2, 1 with probability 1/4, 1/2, 1/4."""
    assert bootstrap_interval([True, False], confidence=0.95) == Interval(0.5, 0.0, 1.0)
    # The central 40% lies inside the 1/2 atom (cumulative 0.25 .. 0.75).
    assert bootstrap_interval([True, False], confidence=0.4) == Interval(0.5, 0.5, 0.5)


def test_large_sample_agrees_with_the_normal_approximation() -> None:
    n, p = 2000, 0.7
    interval = bootstrap_interval(outcomes(int(n * p), n))
    half_width = 1.959964 * math.sqrt(p * (1 - p) / n)  # z_0.975 from a normal table
    assert interval.mean == pytest.approx(p)
    assert interval.low == pytest.approx(p - half_width, abs=0.003)
    assert interval.high == pytest.approx(p + half_width, abs=0.003)


def test_same_seed_same_interval_other_seed_other_resamples() -> None:
    data = outcomes(61, 97)
    assert bootstrap_interval(data, seed=5) == bootstrap_interval(list(data), seed=5)
    first, other = (
        bootstrap_interval(data, n_resamples=999, seed=1),
        bootstrap_interval(data, n_resamples=999, seed=2),
    )
    assert first != other
    assert first.low == pytest.approx(other.low, abs=0.03)


def test_coverage_is_near_nominal() -> None:
    """Over 300 simulated test sets of 100 examples (true accuracy 0.8), ~95% of intervals hold 0.8."""
    rng = np.random.default_rng(0)
    hits = 0
    for trial in range(300):
        interval = bootstrap_interval(rng.random(100) < 0.8, n_resamples=1000, seed=trial)
        hits += interval.low <= 0.8 <= interval.high
    assert 0.90 <= hits / 300 <= 0.99


def test_paired_difference_equals_the_bootstrap_of_per_example_differences() -> None:
    """Resampling pairs is resampling the differences d_i = a_i - b_i; check against the normal formula."""
    n = 1000
    b = outcomes(600, n)
    a = b.copy()
    a[np.flatnonzero(~b)[:80]] = True  # A fixes 80 of B's errors ...
    a[np.flatnonzero(b)[:30]] = False  # ... and breaks 30 of B's successes
    difference = a.astype(float) - b.astype(float)
    interval = paired_difference(a, b)
    half_width = 1.959964 * difference.std() / math.sqrt(n)
    assert interval.mean == pytest.approx(0.05)
    assert interval.low == pytest.approx(0.05 - half_width, abs=0.004)
    assert interval.high == pytest.approx(0.05 + half_width, abs=0.004)
    # Pairing matters: the unpaired intervals overlap although the paired one excludes 0.
    assert interval.low > 0
    assert bootstrap_interval(a).low < bootstrap_interval(b).high


def test_identical_systems_differ_by_exactly_zero() -> None:
    data = outcomes(30, 50)
    assert paired_difference(data, data) == Interval(0.0, 0.0, 0.0)


def test_seed_interval_hand_worked() -> None:
    # mean 0.72, sample sd 0.02, se 0.02 / sqrt(3); t_{0.975, 2} = 4.302653 from a t table.
    interval = seed_interval([0.70, 0.72, 0.74])
    half_width = 4.302653 * 0.02 / math.sqrt(3)
    assert interval.mean == pytest.approx(0.72)
    assert interval.low == pytest.approx(0.72 - half_width, abs=1e-6)
    assert interval.high == pytest.approx(0.72 + half_width, abs=1e-6)
    # 90% with 5 seeds: t_{0.95, 4} = 2.131847.
    values = [0.61, 0.65, 0.60, 0.66, 0.63]
    five = seed_interval(values, confidence=0.9)
    assert five.high - five.mean == pytest.approx(2.131847 * np.std(values, ddof=1) / math.sqrt(5), abs=1e-6)


def test_seed_interval_degenerate_cases() -> None:
    single = seed_interval([0.8])
    assert single.mean == 0.8 and math.isnan(single.low) and math.isnan(single.high)
    assert seed_interval([0.5, 0.5, 0.5]) == Interval(0.5, 0.5, 0.5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_interval([]), "at least 2 outcomes"),
        (lambda: bootstrap_interval([True]), "at least 2 outcomes"),
        (lambda: bootstrap_interval([[True, False]]), "1-D"),
        (lambda: bootstrap_interval([1.0, float("nan")]), "non-finite"),
        (lambda: bootstrap_interval([True, False], confidence=1.0), "strictly between 0 and 1"),
        (lambda: paired_difference([True, False], [True, False, True]), "same examples: 2 vs 3"),
        (lambda: seed_interval([]), "non-empty"),
        (lambda: seed_interval([0.5, 0.6], confidence=0), "strictly between 0 and 1"),
    ],
)
def test_bad_input_is_refused(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
