"""Words of a source text, and the step from sub-word token scores to word scores.

Rationales are made of words, but gradients live on sub-word tokens; tokenizers disagree on what a word is,
so words are defined here once, by a regex on the source text, and tokens are matched to them by character
offsets. No tokenizer library offers this mapping for arbitrary (non word-level) pre-tokenizers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

WordAggregation = Literal["sum", "max"]
WORD_AGGREGATIONS: tuple[str, ...] = ("sum", "max")

# Numbers keep their decimal and thousands separators ("3,000", "2.5"), words keep inner apostrophes and
# hyphens ("don't", "well-known"), and every other non-space character is a word of its own.
WORD_PATTERN = re.compile(r"\d+(?:[.,]\d+)*|\w+(?:['’-]\w+)*|[^\w\s]")


@dataclass(frozen=True)
class Word:
    """A word of a source text; ``start``, ``end`` are character offsets: ``source[start:end] == text``."""

    text: str
    start: int
    end: int

    def overlaps(self, span: tuple[int, int]) -> bool:
        return self.start < span[1] and span[0] < self.end


@dataclass(frozen=True)
class WordScore(Word):
    """A word with the attribution score aggregated from its tokens."""

    score: float


def split_words(text: str) -> list[Word]:
    """The words of ``text`` in order (see ``WORD_PATTERN``)."""
    return [Word(match.group(), match.start(), match.end()) for match in WORD_PATTERN.finditer(text)]


def is_punctuation(word: Word) -> bool:
    """True for words without a letter or digit (``"."``, ``"("``, ``"_"``)."""
    return not any(char.isalnum() for char in word.text)


def _trimmed_span(source: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` shrunk to exclude surrounding whitespace (empty for a whitespace-only token)."""
    piece = source[start:end]
    stripped = piece.strip()
    if not stripped:
        return start, start
    lead = len(piece) - len(piece.lstrip())
    return start + lead, start + lead + len(stripped)


def aggregate_word_scores(
    source: str,
    token_offsets: Sequence[tuple[int, int]],
    token_scores: np.ndarray,
    special_tokens_mask: Sequence[int] | None = None,
    how: WordAggregation = "sum",
) -> list[WordScore]:
    """Score every word of ``source`` from the scores of the tokens whose character span overlaps it.

    Token spans are first trimmed of whitespace, so a metaspace/byte-level token covering the space before
    a word (``"▁cat"`` spanning ``" cat"``) never touches the previous word, and a token that is only
    whitespace (a lone ``"▁"``) belongs to no word. A token overlapping several words gives its full score
    to each. Special tokens belong to no word. A word no token covers (cut off by truncation) scores 0.
    """
    if how not in WORD_AGGREGATIONS:
        raise ValueError(f"unknown word aggregation {how!r}; use one of {WORD_AGGREGATIONS}")
    scores = np.asarray(token_scores, dtype=np.float64)
    if len(scores) != len(token_offsets):
        raise ValueError(f"{len(scores)} token scores for {len(token_offsets)} token offsets")
    words = split_words(source)
    if not words:
        return []
    spans = np.array([_trimmed_span(source, start, end) for start, end in token_offsets], dtype=np.int64)
    spans = spans.reshape(len(token_offsets), 2)
    usable = spans[:, 1] > spans[:, 0]
    if special_tokens_mask is not None:
        usable &= ~np.asarray(special_tokens_mask, dtype=bool)
    word_starts = np.array([word.start for word in words])
    word_ends = np.array([word.end for word in words])
    overlap = (
        usable[:, None] & (spans[:, :1] < word_ends[None, :]) & (spans[:, 1:] > word_starts[None, :])
    )  # (tokens, words)
    if how == "sum":
        word_values = scores @ overlap
    else:
        word_values = np.where(overlap, scores[:, None], -np.inf).max(axis=0, initial=-np.inf)
        word_values[~overlap.any(axis=0)] = 0.0
    return [
        WordScore(word.text, word.start, word.end, float(value))
        for word, value in zip(words, word_values, strict=True)
    ]
