"""CommonsenseQA (v1.11, random split) in Distilling Step-by-Step's form.

Input: the question, then ``"\\nAnswer Choices:\\n(a) ..."`` through ``(e)``; target: the text of the correct
choice; evidence: that choice's words in the input. Splits follow DSS: ``test`` is the official dev set
(the official test set has no answers), and ``train``/``validation`` are DSS's 90/10 holdout of the
official training set. DSS took the training rows in CoS-E v1.11 order, not in the official file's order,
and its holdout depends on row order, so the holdout is computed over the CoS-E order: read from DSS's own
``palm/cqa_train.json`` locally, and from the Hub's ``cos_e`` v1.11 otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokendistill.data.errors import DataError, TaskError
from tokendistill.data.example import Example, Segment, Span, own, template
from tokendistill.data.hub import hub_rows
from tokendistill.data.io import Row, collect_examples, iter_rows
from tokendistill.data.tasks.base import Task, check_split, register_task
from tokendistill.data.tasks.common import dss_holdout, staged_file

CHOICE_LABELS = ("A", "B", "C", "D", "E")
HUB_ID = "tau/commonsense_qa"
COSE_HUB_ID, COSE_CONFIG = "cos_e", "v1.11"  # DSS's source, used only for its training-row order


@dataclass(frozen=True)
class Question:
    """A CommonsenseQA item in either source's schema, reduced to what the task needs."""

    id: str
    stem: str
    concept: str
    choices: tuple[str, ...]
    answer: int  # index into choices

    @classmethod
    def from_official(cls, row: Row) -> Question:
        """The official JSON Lines schema: ``{"answerKey", "id", "question": {"stem", "choices": [...]}}``."""
        question = row.nested("question")
        choices = question.value("choices")
        if not isinstance(choices, list) or not all(isinstance(choice, dict) for choice in choices):
            raise question.error("choices", "expected a list of {label, text} objects")
        choice_rows = [
            Row(row.source, row.line, choice, f"question.choices[{index}].")
            for index, choice in enumerate(choices)
        ]
        return cls.checked(
            row,
            stem=question.text("stem"),
            concept=question.text("question_concept"),
            labels=[choice.value("label") for choice in choice_rows],
            texts=[choice.text("text") for choice in choice_rows],
            choices_field="question.choices",
        )

    @classmethod
    def from_hub(cls, row: Row) -> Question:
        """The ``tau/commonsense_qa`` schema: ``question`` is the stem, ``choices`` holds labels and texts."""
        choices = row.nested("choices")
        labels, texts = choices.value("label"), choices.value("text")
        if not isinstance(labels, list) or not isinstance(texts, list) or len(labels) != len(texts):
            raise row.error("choices", "expected equally long 'label' and 'text' lists")
        for index, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise row.error(f"choices.text[{index}]", "empty text")
        return cls.checked(
            row,
            stem=row.text("question"),
            concept=row.text("question_concept"),
            labels=labels,
            texts=texts,
            choices_field="choices",
        )

    @classmethod
    def checked(
        cls, row: Row, *, stem: str, concept: str, labels: list[Any], texts: list[str], choices_field: str
    ) -> Question:
        """Check the choice labels and the answer key shared by both schemas."""
        if tuple(labels) != CHOICE_LABELS:
            raise row.error(
                choices_field, f"expected choices labelled {'/'.join(CHOICE_LABELS)}, got {labels}"
            )
        answer = CHOICE_LABELS.index(row.label("answerKey", CHOICE_LABELS))
        return cls(row.text("id"), stem, concept, tuple(texts), answer)


def question_example(question: Question) -> Example:
    """DSS's input ``f"{question}\\nAnswer Choices:\\n(a) {c0}\\n(b) {c1}..."``, template kept apart."""
    segments: list[Segment] = [own(question.stem)]
    position = len(question.stem)
    evidence: Span = (0, 0)
    for index, choice in enumerate(question.choices):
        marker = ("\nAnswer Choices:" if index == 0 else "") + f"\n({'abcde'[index]}) "
        segments += [template(marker), own(choice)]
        position += len(marker)
        if index == question.answer:
            evidence = (position, position + len(choice))
        position += len(choice)
    return Example(
        id=question.id,
        segments=tuple(segments),
        target=question.choices[question.answer],
        evidence_spans=(evidence,),
        meta={
            "choices": list(question.choices),
            "answer_key": CHOICE_LABELS[question.answer],
            "concept": question.concept,
        },
    )


@register_task("cqa")
class CQATask(Task):
    """CommonsenseQA; ``test`` = official dev (1,221), ``train``/``validation`` = DSS holdout (8,766/975)."""

    def load(self, split: str, data_dir: Path | None = None, *, skip_bad_rows: bool = False) -> list[Example]:
        check_split(split)
        official_split = "test" if split == "test" else "train"
        rows: Iterable[Row | DataError]
        if data_dir is None:
            rows = hub_rows(HUB_ID, "validation" if official_split == "test" else "train")
            parse = Question.from_hub
        else:
            rows = iter_rows(
                staged_file(data_dir, f"cqa/{'valid' if official_split == 'test' else 'train'}.jsonl.gz")
            )
            parse = Question.from_official
        examples, self.last_skipped = collect_examples(
            rows, lambda row: question_example(parse(row)), skip_bad_rows=skip_bad_rows, id_field="id"
        )
        if split == "test":
            return examples
        order = dss_training_order(data_dir)
        by_id = {example.id: example for example in examples}
        unknown = sorted(set(by_id) - set(order))
        missing = len(set(order) - set(by_id))
        if unknown or missing != self.last_skipped:
            raise TaskError(
                "cqa: the training rows do not match the ids of DSS's CoS-E training set "
                f"({len(unknown)} unknown ids, {missing} ids absent, {self.last_skipped} rows skipped)"
            )
        train_ids, validation_ids = dss_holdout(order)
        return [by_id[id] for id in (train_ids if split == "train" else validation_ids) if id in by_id]


def dss_training_order(data_dir: Path | None) -> list[str]:
    """The CommonsenseQA training ids in the order DSS saw them (CoS-E v1.11's order)."""
    rows: Iterable[Row | DataError]
    if data_dir is None:
        rows = hub_rows(COSE_HUB_ID, "train", COSE_CONFIG)
    else:
        rows = iter_rows(staged_file(data_dir, "cqa/palm/cqa_train.json.gz"), "jsonl")
    ids = []
    for row in rows:
        if isinstance(row, DataError):
            raise row
        ids.append(row.text("id"))
    return ids
