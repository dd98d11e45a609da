"""Paired differences between two student settings A and B trained with the same seeds and scored on the
same test examples: does A beat B, and can the seeds and the test set resolve it?

Two intervals answer from two sides. Over seeds: the Student-t interval of the per-seed differences of
accuracy (training randomness; the same seed gives both settings the same initial weights and data order).
Over test examples: a paired bootstrap of each example's correctness averaged over seeds (which examples
the test set happened to hold). A difference is resolved when an interval excludes 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from tokendistill.metrics.bootstrap import paired_difference, seed_interval

SEEDS = "seeds"
TEST_EXAMPLES = "test examples"


class Verdict(NamedTuple):
    """``word``: "better" or "worse" when an interval excludes 0 on that side (and none on the other),
    else "not resolved"; ``resolved_by`` names the intervals that exclude 0 (``SEEDS``, ``TEST_EXAMPLES``)."""

    word: Literal["better", "worse", "not resolved"]
    resolved_by: tuple[str, ...] = ()

    def text(self) -> str:
        """``better (interval over seeds above 0)``, ``not resolved (no interval excludes 0)``."""
        if self.word == "not resolved":
            why = "the intervals disagree" if self.resolved_by else "no interval excludes 0"
            return f"not resolved ({why})"
        side = "above" if self.word == "better" else "below"
        if len(self.resolved_by) == 1:
            return f"{self.word} (interval over {self.resolved_by[0]} {side} 0)"
        return f"{self.word} (intervals over {' and over '.join(self.resolved_by)} {side} 0)"


def verdict(seed_low: float, seed_high: float, test_low: float, test_high: float) -> Verdict:
    """The verdict on A - B from its interval over seeds and its interval over test examples (an undefined,
    nan, interval resolves nothing)."""
    intervals = ((SEEDS, seed_low, seed_high), (TEST_EXAMPLES, test_low, test_high))
    above = tuple(name for name, low, _ in intervals if low > 0)
    below = tuple(name for name, _, high in intervals if high < 0)
    if above and not below:
        return Verdict("better", above)
    if below and not above:
        return Verdict("worse", below)
    return Verdict("not resolved", above + below)


@dataclass(frozen=True)
class PairedComparison:
    """Accuracy of A minus accuracy of B (fractions), with its 95% intervals over seeds and over test
    examples; the seed interval is nan with one seed, the test interval with fewer than two examples."""

    mean: float
    seed_low: float
    seed_high: float
    test_low: float
    test_high: float
    a_better_seeds: int  # seeds where A scored higher than B
    seeds: int
    examples: int

    @property
    def verdict(self) -> Verdict:
        return verdict(self.seed_low, self.seed_high, self.test_low, self.test_high)


def paired_comparison(
    a_correct: Sequence[Sequence[bool]] | np.ndarray,
    b_correct: Sequence[Sequence[bool]] | np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> PairedComparison:
    """A - B from per-example correctness: one row per seed, one column per test example, row i of A and
    row i of B from the same seed and column j the same example in both.

    Each row's mean is that seed's accuracy. ``seed`` seeds the bootstrap's resampling, not training.
    """
    a, b = _matrix(a_correct, "a_correct"), _matrix(b_correct, "b_correct")
    if a.shape != b.shape:
        raise ValueError(
            f"a_correct and b_correct must hold the same seeds and examples: shapes {a.shape} vs {b.shape}"
        )
    differences = a.mean(axis=1) - b.mean(axis=1)
    over_seeds = seed_interval(differences, confidence)
    if a.shape[1] >= 2:
        over_test = paired_difference(a.mean(axis=0), b.mean(axis=0), confidence, n_resamples, seed)
        test_low, test_high = over_test.low, over_test.high
    else:
        test_low = test_high = math.nan
    return PairedComparison(
        mean=over_seeds.mean,
        seed_low=over_seeds.low,
        seed_high=over_seeds.high,
        test_low=test_low,
        test_high=test_high,
        a_better_seeds=int((differences > 0).sum()),
        seeds=a.shape[0],
        examples=a.shape[1],
    )


def _matrix(correct: Sequence[Sequence[bool]] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(correct, dtype=float)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"{name} must be a seeds x examples table with at least one of each, got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains a non-finite value")
    return array
