"""SVAMP arithmetic word problems in Distilling Step-by-Step's form and split.

Input: ``f"{Body}\\n{Question}"``; target: the infix ``Equation`` (``"( 76.0 - 25.0 )"``); a prediction is
right when its value equals the gold value within 1e-4. Evidence: the numbers in the text whose value is
one of the equation's numbers. SVAMP has no official split: DSS permutes the 1,000 items (in ``chal-1`` ..
``chal-1000`` order) with ``numpy.random.RandomState(seed=0)`` and takes the first 800 as train, then holds
out 10% of those as validation, giving 720/80/200.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tokendistill.data.errors import DataError
from tokendistill.data.example import Example, Span, own, template
from tokendistill.data.hub import hub_rows
from tokendistill.data.io import Row, collect_examples, iter_rows
from tokendistill.data.tasks.base import Task, check_split, register_task
from tokendistill.data.tasks.common import dss_holdout, staged_file
from tokendistill.metrics.arithmetic import ExpressionError, evaluate, numbers

HUB_ID = "ChilleD/SVAMP"
SIZE, TRAIN_SIZE = 1000, 800
TOLERANCE = 1e-4
_ID = re.compile(r"chal-([1-9][0-9]*)")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def dss_split_ids() -> dict[str, list[str]]:
    """The ids of each split, in DSS's order (train and test as in DSS's svamp_train/test.json)."""
    permutation = np.random.RandomState(seed=0).permutation(SIZE)
    dss_train = [f"chal-{index + 1}" for index in permutation[:TRAIN_SIZE]]
    train, validation = dss_holdout(dss_train)
    return {
        "train": train,
        "validation": validation,
        "test": [f"chal-{index + 1}" for index in permutation[TRAIN_SIZE:]],
    }


def number_spans(text: str, values: Iterable[float]) -> tuple[Span, ...]:
    """Spans of the numbers in ``text`` whose value is in ``values`` (``"25"`` matches ``25.0``)."""
    wanted = set(values)
    return tuple(match.span() for match in _NUMBER.finditer(text) if float(match.group()) in wanted)


def problem_example(row: Row) -> Example:
    id = row.text("ID")
    match = _ID.fullmatch(id)
    if match is None or int(match.group(1)) > SIZE:
        raise row.error("ID", f"expected an id chal-1 .. chal-{SIZE}, got {id!r}")
    body, question, equation = row.text("Body"), row.text("Question"), row.text("Equation")
    try:
        value = evaluate(equation)
    except ExpressionError as error:
        raise row.error("Equation", f"not an arithmetic expression: {error}") from error
    source = f"{body}\n{question}"
    return Example(
        id=id,
        segments=(own(body), template("\n"), own(question)),
        target=equation,
        evidence_spans=number_spans(source, numbers(equation)),
        # Scoring uses the equation's value, as DSS does; SVAMP's own Answer field is wrong for chal-680.
        meta={"answer": value, "type": row.text("Type")},
    )


@register_task("svamp")
class SVAMPTask(Task):
    """SVAMP (``ChilleD/SVAMP`` train+test merged, or ``svamp/all.jsonl.gz``) in DSS's 720/80/200 split."""

    def load(self, split: str, data_dir: Path | None = None, *, skip_bad_rows: bool = False) -> list[Example]:
        check_split(split)
        rows: Iterable[Row | DataError]
        source: str | Path
        if data_dir is None:
            # The Hub copy splits the 1,000 items its own way; merge them, DSS's split is rebuilt below.
            source = HUB_ID
            rows = itertools.chain(hub_rows(HUB_ID, "train"), hub_rows(HUB_ID, "test"))
        else:
            source = staged_file(data_dir, "svamp/all.jsonl.gz")
            rows = iter_rows(source)
        examples, self.last_skipped = collect_examples(
            rows, problem_example, skip_bad_rows=skip_bad_rows, id_field="ID"
        )
        if len(examples) + self.last_skipped != SIZE:
            read = len(examples) + self.last_skipped
            raise DataError(source, None, None, f"svamp: expected {SIZE} problems, read {read}")
        by_id = {example.id: example for example in examples}
        return [by_id[id] for id in dss_split_ids()[split] if id in by_id]

    def is_correct(self, prediction: str, example: Example) -> bool:
        """The predicted equation's value equals the gold equation's within 1e-4; unparsable is wrong."""
        try:
            predicted = evaluate(prediction)
        except ExpressionError:
            return False
        return abs(predicted - evaluate(example.target)) <= TOLERANCE
