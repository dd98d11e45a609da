"""From word scores to the rationale a student learns to generate: the top-k of the example's own words."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Sequence
from typing import Literal

from tokendistill.attribution.words import Word, WordScore, is_punctuation, split_words
from tokendistill.data.example import Span

RationaleOrder = Literal["input", "score"]


def _candidate_filter(
    excluded_spans: Sequence[Span], stopwords: Collection[str] | None
) -> Callable[[Word], bool]:
    """A predicate keeping the example's own words: no template overlap, no punctuation, no stopword."""
    stop = frozenset(word.lower() for word in stopwords) if stopwords else frozenset()

    def keep(word: Word) -> bool:
        return (
            not is_punctuation(word)
            and word.text.lower() not in stop
            and not any(word.overlaps(span) for span in excluded_spans)
        )

    return keep


def candidate_words(
    source: str, excluded_spans: Sequence[Span] = (), stopwords: Collection[str] | None = None
) -> list[Word]:
    """The words of ``source`` that may enter a rationale, in input order.

    ``excluded_spans`` are the template's character spans (``Example.template_spans()``); a word touching
    one is excluded. ``stopwords`` are matched case-insensitively.
    """
    keep = _candidate_filter(excluded_spans, stopwords)
    return [word for word in split_words(source) if keep(word)]


def _check_k(k: int) -> None:
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")


def select_rationale(
    words: Sequence[WordScore],
    k: int = 5,
    *,
    excluded_spans: Sequence[Span] = (),
    stopwords: Collection[str] | None = None,
    order: RationaleOrder = "input",
) -> list[WordScore]:
    """The ``k`` highest-scoring candidate words of ``words`` (every word of a source with its score, in input
    order, as ``SequenceAttribution.words`` and ``RationaleRecord.words`` hold them; all candidates when there
    are fewer); equal scores go to the earlier word. Returned in input order (``order="input"``) or by
    decreasing score (``order="score"``)."""
    _check_k(k)
    if order not in ("input", "score"):
        raise ValueError(f"unknown rationale order {order!r}; use 'input' or 'score'")
    keep = _candidate_filter(excluded_spans, stopwords)
    candidates = [word for word in words if keep(word)]
    for word in candidates:
        if math.isnan(word.score):
            raise ValueError(f"NaN word score of {word.text!r} (characters {word.start}:{word.end})")
    top = sorted(candidates, key=lambda word: (-word.score, word.start))[:k]
    return sorted(top, key=lambda word: word.start) if order == "input" else top


def random_rationale(
    source: str,
    k: int,
    rng: random.Random,
    *,
    excluded_spans: Sequence[Span] = (),
    stopwords: Collection[str] | None = None,
) -> list[Word]:
    """``k`` candidate words drawn uniformly without replacement, in input order (the random control)."""
    _check_k(k)
    candidates = candidate_words(source, excluded_spans, stopwords)
    chosen = rng.sample(range(len(candidates)), min(k, len(candidates)))
    return [candidates[index] for index in sorted(chosen)]


def rationale_text(words: Sequence[Word]) -> str:
    """The rationale as the student sees it: the words joined by single spaces."""
    return " ".join(word.text for word in words)
