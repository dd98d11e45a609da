"""The paper's analysis: how often the teacher's top-k words contain the ground-truth answer.

An example counts when one of its rationale words overlaps one of its ``evidence_spans`` (CQA: the correct
choice's words; SVAMP: the equation's numbers; synthetic tasks: the deciding words). Examples without
evidence spans (NLI) are left out. Next to the rate stands its chance level: the probability that k words
drawn uniformly from the same candidate words would hit the evidence, averaged over the same examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb
from pathlib import Path

from tokendistill.attribution import candidate_words, select_rationale
from tokendistill.attribution.records import RationaleRecord, iter_rationale_file
from tokendistill.attribution.words import WordScore
from tokendistill.data.errors import DataError
from tokendistill.data.example import Example


def chosen_words(record: RationaleRecord, example: Example, path: Path, line: int) -> list[WordScore]:
    """The words of ``record`` that make up its rationale.

    The file stores every word's score and the rationale text, not which words were chosen; the choice is
    redone with the attribution module's own selection rule, and checked against the stored text.
    """
    chosen = select_rationale(record.words, record.k, excluded_spans=example.template_spans())
    if " ".join(word.text for word in chosen) != record.rationale:
        raise DataError(path, line, "rationale", "does not match the top-k words of the recorded scores")
    return chosen


def read_with_examples(
    path: Path, examples: Sequence[Example]
) -> list[tuple[RationaleRecord, Example, list[WordScore]]]:
    """Each record of a rationale file with its example and chosen words (``DataError`` for an unknown id)."""
    by_id = {example.id: example for example in examples}
    rows = []
    for line, record in iter_rationale_file(path):
        if record.id not in by_id:
            raise DataError(path, line, "id", f"no example {record.id!r} in the task's split")
        example = by_id[record.id]
        rows.append((record, example, chosen_words(record, example, path, line)))
    return rows


@dataclass(frozen=True)
class EvidenceOverlap:
    examples: int  # examples with evidence spans
    hits: int  # of which the rationale overlaps the evidence
    chance: float  # expected share for k uniformly random candidate words

    @property
    def share(self) -> float:
        return self.hits / self.examples


def _overlaps_evidence(word_span: tuple[int, int], evidence: Sequence[tuple[int, int]]) -> bool:
    start, end = word_span
    return any(start < e_end and e_start < end for e_start, e_end in evidence)


def random_hit_probability(n_candidates: int, n_evidence: int, k: int) -> float:
    """P(some of k words drawn without replacement from n candidates is one of the m evidence words)."""
    draws = min(k, n_candidates)
    return 1.0 - comb(n_candidates - n_evidence, draws) / comb(n_candidates, draws)


def evidence_overlap(path: Path, examples: Sequence[Example]) -> EvidenceOverlap | None:
    """The evidence hit rate of a rationale file over ``examples`` (``None`` when none has evidence)."""
    total = hits = 0
    chance = 0.0
    for record, example, chosen in read_with_examples(path, examples):
        if not example.evidence_spans:
            continue
        candidates = candidate_words(example.source, example.template_spans())
        n_evidence = sum(_overlaps_evidence((w.start, w.end), example.evidence_spans) for w in candidates)
        total += 1
        hits += any(_overlaps_evidence((w.start, w.end), example.evidence_spans) for w in chosen)
        chance += random_hit_probability(len(candidates), n_evidence, record.k)
    return EvidenceOverlap(total, hits, chance / total) if total else None
