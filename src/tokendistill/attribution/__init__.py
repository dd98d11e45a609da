"""Gradient attribution of a teacher's output to its input words (either model family), and rationales."""

from tokendistill.attribution.engine import attribute
from tokendistill.attribution.methods import METHODS
from tokendistill.attribution.rationale import (
    candidate_words,
    random_rationale,
    rationale_text,
    select_rationale,
)
from tokendistill.attribution.result import SequenceAttribution
from tokendistill.attribution.words import Word, WordScore, split_words

__all__ = [
    "METHODS",
    "SequenceAttribution",
    "Word",
    "WordScore",
    "attribute",
    "candidate_words",
    "random_rationale",
    "rationale_text",
    "select_rationale",
    "split_words",
]
