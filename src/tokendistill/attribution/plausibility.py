"""Plausibility: how well a rationale's words match human explanations (e-SNLI's ``explanation_1..3``).

Per example, the rationale's words are compared with the **reference**: the content words of the
explanations. Words are split by ``split_words`` (the splitter rationales are made with), lowercased, and
a possessive ``'s`` is dropped (``"man's"`` counts as ``"man"``); punctuation is no word. The reference
leaves out stopwords and the template words annotators use to phrase an explanation (``"just because X
does not mean Y"``, ``"X and Y cannot happen at the same time"``); the rationale keeps every word it
has, so a stopword the method picked is a miss, not ignored (removing it would let a rationale of four
stopwords and one hit score precision 1). Both sides are sets: a word counts once however often it occurs.

    precision = |rationale ∩ reference| / |rationale|,  recall = |rationale ∩ reference| / |reference|,
    F1 = 2PR / (P + R)  (0 when P + R = 0).

Several explanations per example are **pooled**: the reference is the union of their content words. A word
any annotator used to explain the label counts as plausible, the score does not depend on the order or
number of explanations beyond what they say, and P, R and F1 describe one comparison. (The alternative,
the best F1 over explanations, reports P and R of different references for different examples, and rises
with the number of explanations by chance alone.) Pooling makes recall harsher with more explanations:
compare methods on the same examples, never across datasets with different explanation counts.

With ``source`` given, the reference keeps only explanation words that occur in the source: a rationale
picks input words, so explanation words like ``"music"`` for an input saying ``"guitar"`` are out of its
reach; recall is then against what a rationale can attain.

Edge cases: an empty rationale scores 0 on all three (a method that names nothing earns nothing); an empty
reference (explanations of stopwords only, or none) makes all three undefined (NaN), and
``mean_plausibility`` leaves such examples out and counts them.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from tokendistill.attribution.words import is_punctuation, split_words

# Common English function words (the usual NLTK-style list, with contractions in both apostrophe forms).
STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves also cannot may might must shall either neither whether yet
    aren't can't couldn't didn't doesn't don't hadn't hasn't haven't isn't it's mustn't shan't shouldn't
    wasn't weren't won't wouldn't i'm you're he's she's we're they're i've you've we've they've i'd you'd
    he'd she'd we'd they'd i'll you'll he'll she'll we'll they'll that's there's what's let's
    """.split()  # noqa: SIM905 (a word list reads better as text)
)
STOPWORDS = STOPWORDS | frozenset(word.replace("'", "’") for word in STOPWORDS)

# Words e-SNLI annotators use to phrase an explanation rather than to name its content: chosen from the
# words of the validation explanations that (almost) never occur in the premise or hypothesis.
ESNLI_TEMPLATE_WORDS: frozenset[str] = frozenset(
    """
    mean means meaning meant imply implies implied implying infer inferred necessarily simultaneously
    time different sentence sentences first second premise hypothesis statement states stated say says
    saying said rephrasing rephrase rephrased paraphrase restating restatement type kind
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


@dataclass(frozen=True)
class Plausibility:
    """One example's scores; NaN when the reference is empty. Sizes count distinct words."""

    precision: float
    recall: float
    f1: float
    rationale_words: int
    reference_words: int


@dataclass(frozen=True)
class PlausibilitySummary:
    """Means over the ``examples`` with a reference (macro averages: F1 is the mean of per-example F1,
    not the F1 of the mean P and R); ``skipped`` examples had an empty reference."""

    precision: float
    recall: float
    f1: float
    examples: int
    skipped: int


def _as_texts(texts: str | Iterable[str]) -> list[str]:
    return [texts] if isinstance(texts, str) else list(texts)


def normalise(word: str) -> str:
    """The form words are compared in: lowercased, without a possessive ``'s``."""
    lowered = word.lower()
    for suffix in ("'s", "’s"):
        if lowered.endswith(suffix) and len(lowered) > len(suffix):
            return lowered[: -len(suffix)]
    return lowered


def word_set(texts: str | Iterable[str]) -> frozenset[str]:
    """The distinct normalised words of ``texts`` (each split by ``split_words``), punctuation left out."""
    return frozenset(
        normalise(word.text)
        for text in _as_texts(texts)
        for word in split_words(text)
        if not is_punctuation(word)
    )


def reference_words(
    explanations: str | Iterable[str],
    *,
    stopwords: Collection[str] = STOPWORDS,
    template_words: Collection[str] = ESNLI_TEMPLATE_WORDS,
    source: str | None = None,
) -> frozenset[str]:
    """The content words of the explanations, pooled; with ``source``, only those that occur in it."""
    excluded = {normalise(word) for word in (*stopwords, *template_words)}
    words = word_set(explanations) - excluded
    return words & word_set(source) if source is not None else words


def plausibility(
    rationale: str | Iterable[str],
    explanations: str | Sequence[str],
    *,
    stopwords: Collection[str] = STOPWORDS,
    template_words: Collection[str] = ESNLI_TEMPLATE_WORDS,
    source: str | None = None,
) -> Plausibility:
    """Precision, recall and F1 of the ``rationale`` words (a list of words, or one text) against the
    pooled content words of ``explanations`` (see the module docstring)."""
    picked = word_set(rationale)
    reference = reference_words(
        explanations, stopwords=stopwords, template_words=template_words, source=source
    )
    if not reference:
        return Plausibility(math.nan, math.nan, math.nan, len(picked), 0)
    if not picked:
        return Plausibility(0.0, 0.0, 0.0, 0, len(reference))
    hits = len(picked & reference)
    precision, recall = hits / len(picked), hits / len(reference)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return Plausibility(precision, recall, f1, len(picked), len(reference))


def mean_plausibility(scores: Iterable[Plausibility]) -> PlausibilitySummary:
    """Macro averages over the examples with a reference; NaN scores when there is none."""
    scores = list(scores)
    kept = [score for score in scores if score.reference_words > 0]
    if not kept:
        return PlausibilitySummary(math.nan, math.nan, math.nan, 0, len(scores))
    return PlausibilitySummary(
        precision=math.fsum(score.precision for score in kept) / len(kept),
        recall=math.fsum(score.recall for score in kept) / len(kept),
        f1=math.fsum(score.f1 for score in kept) / len(kept),
        examples=len(kept),
        skipped=len(scores) - len(kept),
    )
