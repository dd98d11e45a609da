"""Confidence intervals for accuracy: over test examples (bootstrap) and over training seeds (t-interval).

The paper's differences between methods are a few points on test sets of a few hundred examples, so every
accuracy we report carries an interval saying how much of a difference the test set can resolve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats

# Resample in batches of at most this many values, so 10,000 resamples of a large test set fit in memory.
_MAX_VALUES_PER_BATCH = 2**22


class Interval(NamedTuple):
    """A point estimate with the two ends of its confidence interval."""

    mean: float
    low: float
    high: float


def bootstrap_interval(
    correct: Sequence[bool] | np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Accuracy over ``correct`` (one outcome per example) with a percentile bootstrap interval.

    Resamples examples with replacement, so the interval reflects how much the accuracy depends on which
    examples happened to be in the test set. Needs at least two examples.
    """
    outcomes = _outcomes(correct, "correct")
    result = stats.bootstrap(
        (outcomes,),
        np.mean,
        n_resamples=n_resamples,
        batch=_batch_size(outcomes.size),
        vectorized=True,
        confidence_level=_checked(confidence),
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return Interval(float(outcomes.mean()), *map(float, result.confidence_interval))


def paired_difference(
    a_correct: Sequence[bool] | np.ndarray,
    b_correct: Sequence[bool] | np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Accuracy of A minus accuracy of B on the same examples, with a paired percentile bootstrap interval.

    Each resample draws the same examples for both systems, so the interval is much narrower than the two
    separate intervals suggest when A and B succeed and fail on the same examples. An interval that
    excludes 0 means the test set resolves the difference.
    """
    a, b = _outcomes(a_correct, "a_correct"), _outcomes(b_correct, "b_correct")
    if a.shape != b.shape:
        raise ValueError(
            f"a_correct and b_correct must score the same examples: {a.size} vs {b.size} outcomes"
        )
    result = stats.bootstrap(
        (a, b),
        _difference_of_means,
        n_resamples=n_resamples,
        batch=_batch_size(2 * a.size),
        vectorized=True,
        paired=True,
        confidence_level=_checked(confidence),
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return Interval(float(a.mean() - b.mean()), *map(float, result.confidence_interval))


def seed_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean of per-seed accuracies with a Student-t interval (n - 1 degrees of freedom).

    This is the spread from training randomness, not from the test set. With a single seed there is no
    spread to estimate: the bounds are nan (degenerate), which tables should show as "n/a".
    """
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence of accuracies, got shape {array.shape}")
    mean = float(array.mean())
    if array.size == 1:
        return Interval(mean, math.nan, math.nan)
    standard_error = float(array.std(ddof=1)) / math.sqrt(array.size)
    half_width = float(stats.t.ppf((1 + _checked(confidence)) / 2, df=array.size - 1)) * standard_error
    return Interval(mean, mean - half_width, mean + half_width)


def _difference_of_means(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
    return a.mean(axis=axis) - b.mean(axis=axis)


def _outcomes(correct: Sequence[bool] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(correct, dtype=float)
    if array.ndim != 1 or array.size < 2:
        raise ValueError(f"{name} must be a 1-D sequence of at least 2 outcomes, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains a non-finite value")
    return array


def _batch_size(values_per_resample: int) -> int:
    return max(1, _MAX_VALUES_PER_BATCH // values_per_resample)


def _checked(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    return confidence
