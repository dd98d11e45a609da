"""Plausibility of rationales: their words against human explanations (e-SNLI's), next to random words.

The rationale side is the words each record chose (``read_with_examples`` redoes and checks the choice); the
reference is ``attribution.plausibility``'s pooled explanation content words. The control draws k of the
same candidate words (template words excluded, as for rationales) uniformly at random, ``draws`` times per
example with a fixed seed, so a method's precision reads against what picking blindly would score.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokendistill.attribution import candidate_words
from tokendistill.attribution.plausibility import PlausibilitySummary, mean_plausibility, plausibility
from tokendistill.data.example import Example
from tokendistill.report.analysis import ChosenRow, read_with_examples

EXPLANATIONS = "explanations"  # the Example.meta key of a task's human explanations


@dataclass(frozen=True)
class RationalePlausibility:
    rationales: PlausibilitySummary
    random_words: PlausibilitySummary


def rationale_plausibility(
    path: Path, examples: Sequence[Example], *, draws: int = 5, seed: int = 0
) -> RationalePlausibility | None:
    """Mean precision, recall and F1 of a rationale file's words and of random words against the examples'
    explanations; ``None`` when no example of the file has any."""
    return plausibility_of_rows(read_with_examples(path, examples), draws=draws, seed=seed)


def plausibility_of_rows(
    rows: Sequence[ChosenRow], *, draws: int = 5, seed: int = 0
) -> RationalePlausibility | None:
    """``rationale_plausibility`` of rows already read with ``read_with_examples``."""
    generator = random.Random(seed)
    chosen_scores, random_scores = [], []
    for record, example, chosen in rows:
        explanations = example.meta.get(EXPLANATIONS)
        if not explanations:
            continue
        chosen_scores.append(plausibility([word.text for word in chosen], explanations))
        candidates = [word.text for word in candidate_words(example.source, example.template_spans())]
        for _ in range(draws):
            picked = generator.sample(candidates, min(record.k, len(candidates)))
            random_scores.append(plausibility(picked, explanations))
    if not chosen_scores:
        return None
    return RationalePlausibility(mean_plausibility(chosen_scores), mean_plausibility(random_scores))
