"""The paper's analysis: how often the teacher's top-k words contain the ground-truth answer.

An example counts when one of its rationale words is an evidence word (``attribution.evidence``: a candidate
word overlapping one of its ``evidence_spans``). Examples without evidence spans (NLI) are left out. Next to
the rate stands its chance level: the probability that k words drawn uniformly from the same candidate words
would hit the evidence, averaged over the same examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokendistill.attribution import select_rationale
from tokendistill.attribution.evidence import evidence_score, mean_evidence
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


ChosenRow = tuple[RationaleRecord, Example, list[WordScore]]  # a record, its example, its chosen words


def read_with_examples(path: Path, examples: Sequence[Example]) -> list[ChosenRow]:
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


def evidence_overlap(path: Path, examples: Sequence[Example]) -> EvidenceOverlap | None:
    """The evidence hit rate of a rationale file over ``examples`` (``None`` when none has evidence)."""
    return overlap_of_rows(read_with_examples(path, examples))


def overlap_of_rows(rows: Sequence[ChosenRow]) -> EvidenceOverlap | None:
    """``evidence_overlap`` of rows already read with ``read_with_examples``."""
    scores = [
        evidence_score(example, chosen, record.k)
        for record, example, chosen in rows
        if example.evidence_spans
    ]
    if not scores:
        return None
    chance = mean_evidence(scores, ("hit_chance",))["hit_chance"]
    return EvidenceOverlap(len(scores), sum(score.hit for score in scores), chance)
