"""The two natural-language-inference benchmarks: ANLI round 1 and e-SNLI.

As in Distilling Step-by-Step, the input is ``premise + "</s>" + hypothesis`` (DSS joins the two with the
tokenizer's end-of-sequence token, which is ``"</s>"`` for T5 and BART) and the target is the label word.
The label word never occurs in the input, so NLI examples have no evidence spans; e-SNLI's carry the human
explanations of their label instead (``meta["explanations"]``), against which rationales are scored for
plausibility (``tokendistill.attribution.plausibility``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from tokendistill.data.errors import DataError
from tokendistill.data.example import Example, own, template
from tokendistill.data.hub import hub_rows
from tokendistill.data.io import Row, collect_examples, iter_rows
from tokendistill.data.tasks.base import Task, check_split, register_task
from tokendistill.data.tasks.common import staged_file

NLI_LABELS = ("entailment", "neutral", "contradiction")  # the Hub's integer labels 0, 1, 2
SEPARATOR = "</s>"
STAGED_FILES = {"train": "train.jsonl.gz", "validation": "valid.jsonl.gz", "test": "test.jsonl.gz"}


class NLITask(Task):
    """Premise/hypothesis pairs with a three-way label, from the Hub or from ``<data_dir>/<folder>/``."""

    labels = NLI_LABELS
    folder: ClassVar[str]
    hub_id: ClassVar[str]
    hub_splits: ClassVar[dict[str, str]]
    id_field: ClassVar[str | None]

    def load(self, split: str, data_dir: Path | None = None, *, skip_bad_rows: bool = False) -> list[Example]:
        check_split(split)
        rows: Iterable[Row | DataError]
        if data_dir is None:
            rows = hub_rows(self.hub_id, self.hub_splits[split])
        else:
            note = (
                f"the {self.name} training inputs are not in the shared data folder (only DSS's PaLM outputs "
                "for them are); load train from the Hugging Face Hub (data_dir=None) or use validation/test"
            )
            rows = iter_rows(staged_file(data_dir, f"{self.folder}/{STAGED_FILES[split]}", note))
        examples, self.last_skipped = collect_examples(
            rows, lambda row: self.example(row, split), skip_bad_rows=skip_bad_rows, id_field=self.id_field
        )
        return examples

    def example(self, row: Row, split: str) -> Example:
        premise, hypothesis = row.text("premise"), row.text("hypothesis")
        label_id = row.label("label", tuple(range(len(NLI_LABELS))))
        return Example(
            id=self.example_id(row, split),
            segments=(own(premise), template(SEPARATOR), own(hypothesis)),
            target=NLI_LABELS[label_id],
            meta={"label_id": label_id},
        )

    @abstractmethod
    def example_id(self, row: Row, split: str) -> str:
        """A stable id that the PaLM rationales of the same row are keyed by."""


@register_task("anli1")
class ANLI1Task(NLITask):
    """Adversarial NLI, round 1 (``facebook/anli`` train_r1/dev_r1/test_r1); ids are ANLI's ``uid``."""

    folder = "anli1"
    hub_id = "facebook/anli"
    hub_splits: ClassVar[dict[str, str]] = {"train": "train_r1", "validation": "dev_r1", "test": "test_r1"}
    id_field = "uid"

    def example_id(self, row: Row, split: str) -> str:
        return row.text("uid")


@register_task("esnli")
class ESNLITask(NLITask):
    """e-SNLI (``esnli``); it has no id field, so an example's id is ``"<split>-<row index>"``."""

    folder = "esnli"
    hub_id = "esnli"
    hub_splits: ClassVar[dict[str, str]] = {"train": "train", "validation": "validation", "test": "test"}
    id_field = None

    explanation_fields = ("explanation_1", "explanation_2", "explanation_3")

    def example_id(self, row: Row, split: str) -> str:
        return f"{split}-{row.line - 1}"

    def example(self, row: Row, split: str) -> Example:
        """An NLI example whose ``meta["explanations"]`` holds the human explanations of its label (three
        on validation and test, one on train), for plausibility; absent or blank ones are left out."""
        example = super().example(row, split)
        present = [field for field in self.explanation_fields if row.record.get(field) is not None]
        explanations = [row.text(field) for field in present if str(row.record[field]).strip()]
        return replace(example, meta={**example.meta, "explanations": explanations})
