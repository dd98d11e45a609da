"""How well a rationale finds the evidence: an example's top-k words against the words that hold its answer.

An example's evidence words are its candidate words (``candidate_words``: template words and punctuation
left out) that overlap one of its ``evidence_spans`` (CQA: the correct choice's words; SVAMP: the equation's
numbers; synthetic tasks: the deciding words). Every rate has a chance level next to it: what k words drawn
uniformly without replacement from the same candidate words score in expectation.

The report's evidence analysis and the benchmarks' evidence tables both score examples here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import comb

from tokendistill.attribution.rationale import candidate_words
from tokendistill.attribution.words import Word
from tokendistill.data.example import Example, Span

EVIDENCE_METRICS: tuple[str, ...] = (
    "precision",
    "recall",
    "hit",
    "precision_chance",
    "recall_chance",
    "hit_chance",
)


def is_evidence(word: Word, evidence_spans: Sequence[Span]) -> bool:
    """True when ``word`` overlaps one of ``evidence_spans`` by at least one character."""
    return any(word.overlaps(span) for span in evidence_spans)


def random_hit_probability(n_candidates: int, n_evidence: int, k: int) -> float:
    """P(some of k words drawn without replacement from n candidates is one of the m evidence words)."""
    draws = min(k, n_candidates)
    return 1.0 - comb(n_candidates - n_evidence, draws) / comb(n_candidates, draws)


@dataclass(frozen=True)
class EvidenceScore:
    """One example's top-``k`` rationale words against its evidence words.

    ``recall`` and the chance levels of precision and recall divide by ``evidence`` or ``candidates``, so
    they are only defined for an example with at least one evidence word.
    """

    k: int
    candidates: int  # candidate words (n)
    evidence: int  # of which evidence words (m)
    chosen: int  # rationale words
    found: int  # of which evidence words

    @property
    def hit(self) -> bool:
        """The rationale holds at least one evidence word."""
        return self.found > 0

    @property
    def precision(self) -> float:
        """Share of the rationale words that are evidence words."""
        return self.found / self.chosen

    @property
    def recall(self) -> float:
        """Share of the evidence words that are in the rationale."""
        return self.found / self.evidence

    @property
    def hit_chance(self) -> float:
        return random_hit_probability(self.candidates, self.evidence, self.k)

    @property
    def precision_chance(self) -> float:
        return self.evidence / self.candidates

    @property
    def recall_chance(self) -> float:
        return min(self.k, self.candidates) / self.candidates


def evidence_words(example: Example) -> list[Word]:
    """The candidate words of ``example`` that are evidence words, in input order."""
    candidates = candidate_words(example.source, example.template_spans())
    return [word for word in candidates if is_evidence(word, example.evidence_spans)]


def evidence_score(example: Example, chosen: Sequence[Word], k: int) -> EvidenceScore:
    """Score ``chosen``, the top-``k`` rationale words of ``example``, against its evidence words."""
    candidates = candidate_words(example.source, example.template_spans())
    spans = example.evidence_spans
    return EvidenceScore(
        k=k,
        candidates=len(candidates),
        evidence=sum(is_evidence(word, spans) for word in candidates),
        chosen=len(chosen),
        found=sum(is_evidence(word, spans) for word in chosen),
    )


def mean_evidence(
    scores: Iterable[EvidenceScore], metrics: Sequence[str] = EVIDENCE_METRICS
) -> dict[str, float]:
    """Each of ``metrics`` (names of ``EvidenceScore`` fields) averaged over ``scores`` (at least one)."""
    scores = list(scores)
    if not scores:
        raise ValueError("no evidence scores to average")
    return {name: sum(float(getattr(score, name)) for score in scores) / len(scores) for name in metrics}
