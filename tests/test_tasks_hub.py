"""Loading from the Hugging Face Hub (``data_dir=None``) with only ``datasets.load_dataset`` replaced."""

from __future__ import annotations

import random

import datasets
import numpy as np
import pytest

from tokendistill.data.errors import DataError
from tokendistill.data.tasks import get_task


class FakeHub:
    """Stands in for ``datasets.load_dataset``: serves in-memory tables and records what was asked for."""

    def __init__(self, tables: dict[tuple[str, str | None, str], list[dict]]) -> None:
        self.tables = tables
        self.calls: list[tuple[str, str | None, str]] = []

    def __call__(self, path: str, name: str | None = None, *, split: str) -> datasets.Dataset:
        self.calls.append((path, name, split))
        return datasets.Dataset.from_list(self.tables[path, name, split])


@pytest.fixture
def hub(monkeypatch):
    def install(tables):
        fake = FakeHub(tables)
        monkeypatch.setattr(datasets, "load_dataset", fake)
        return fake

    return install


def nli_rows(prefix: str) -> list[dict]:
    return [
        {
            "uid": f"{prefix}-1",
            "premise": "A man sleeps.",
            "hypothesis": "A person rests.",
            "label": 0,
            "reason": "r",
        },
        {
            "uid": f"{prefix}-2",
            "premise": "A cat eats.",
            "hypothesis": "A dog eats.",
            "label": 2,
            "reason": "r",
        },
    ]


@pytest.mark.parametrize(
    ("split", "hub_split"), [("train", "train_r1"), ("validation", "dev_r1"), ("test", "test_r1")]
)
def test_anli1_uses_facebook_anli_round_1(hub, split: str, hub_split: str) -> None:
    fake = hub({("facebook/anli", None, hub_split): nli_rows(hub_split)})
    examples = get_task("anli1").load(split)
    assert fake.calls == [("facebook/anli", None, hub_split)]
    assert [example.id for example in examples] == [f"{hub_split}-1", f"{hub_split}-2"]
    assert [example.source for example in examples] == [
        "A man sleeps.</s>A person rests.",
        "A cat eats.</s>A dog eats.",
    ]
    assert [example.target for example in examples] == ["entailment", "contradiction"]


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_esnli_ids_are_split_and_row_index(hub, split: str) -> None:
    rows = [
        {key: value for key, value in row.items() if key not in ("uid", "reason")} for row in nli_rows("x")
    ]
    fake = hub({("esnli", None, split): rows})
    examples = get_task("esnli").load(split)
    assert fake.calls == [("esnli", None, split)]
    assert [example.id for example in examples] == [f"{split}-0", f"{split}-1"]


def test_bad_hub_row_names_dataset_split_row_and_field(hub) -> None:
    rows = nli_rows("d")
    rows[1]["hypothesis"] = " "
    hub({("facebook/anli", None, "dev_r1"): rows})
    with pytest.raises(DataError, match=r"^facebook/anli/dev_r1:2: field 'hypothesis': empty text$"):
        get_task("anli1").load("validation")
    task = get_task("anli1")
    assert len(task.load("validation", skip_bad_rows=True)) == 1 and task.last_skipped == 1


def cqa_rows(count: int) -> list[dict]:
    return [
        {
            "id": f"q{index:02d}",
            "question": f"Where is thing {index}?",
            "question_concept": "thing",
            "choices": {"label": list("ABCDE"), "text": [f"place {index}{letter}" for letter in "abcde"]},
            "answerKey": "ABCDE"[index % 5],
        }
        for index in range(count)
    ]


def test_cqa_train_and_validation_are_dss_holdout_in_cose_order(hub) -> None:
    rows = cqa_rows(30)
    cose = [{"id": row["id"], "question": row["question"]} for row in reversed(rows)]  # a different order
    tables = {("tau/commonsense_qa", None, "train"): rows, ("cos_e", "v1.11", "train"): cose}
    fake = hub(tables)
    train, validation = (get_task("cqa").load(split) for split in ("train", "validation"))
    assert set(fake.calls) == {("tau/commonsense_qa", None, "train"), ("cos_e", "v1.11", "train")}
    expected = datasets.Dataset.from_list(cose).train_test_split(test_size=0.1, seed=0)
    assert [example.id for example in train] == list(expected["train"]["id"])
    assert [example.id for example in validation] == list(expected["test"]["id"])
    assert (len(train), len(validation)) == (27, 3)


def test_cqa_test_is_the_hub_validation_split(hub) -> None:
    fake = hub({("tau/commonsense_qa", None, "validation"): cqa_rows(2)})
    first, second = get_task("cqa").load("test")
    assert fake.calls == [("tau/commonsense_qa", None, "validation")]
    assert first.source == (
        "Where is thing 0?\nAnswer Choices:\n(a) place 0a\n(b) place 0b\n(c) place 0c\n(d) place 0d"
        "\n(e) place 0e"
    )
    assert (first.target, first.evidence_text()) == ("place 0a", ["place 0a"])
    assert (second.target, second.meta["answer_key"]) == ("place 1b", "B")


def test_svamp_merges_the_hub_splits_and_rebuilds_dss_split(hub) -> None:
    rows = [
        {
            "ID": f"chal-{number}",
            "Body": f"Tom has {number} apples. He gets 2 more.",
            "Question": "How many apples does he have?",
            "Equation": f"( {number}.0 + 2.0 )",
            "Answer": float(number + 2),
            "Type": "Addition",
        }
        for number in range(1, 1001)
    ]
    random.Random(0).shuffle(rows)  # the Hub's own 700/300 split, in no particular order
    fake = hub({("ChilleD/SVAMP", None, "train"): rows[:700], ("ChilleD/SVAMP", None, "test"): rows[700:]})
    task = get_task("svamp")
    splits = {split: task.load(split) for split in ("train", "validation", "test")}
    assert set(fake.calls) == {("ChilleD/SVAMP", None, "train"), ("ChilleD/SVAMP", None, "test")}
    permutation = np.random.RandomState(seed=0).permutation(1000)
    assert [example.id for example in splits["test"]] == [f"chal-{index + 1}" for index in permutation[800:]]
    assert {example.id for example in splits["train"] + splits["validation"]} == {
        f"chal-{index + 1}" for index in permutation[:800]
    }
    assert (len(splits["train"]), len(splits["validation"])) == (720, 80)
    example = splits["test"][0]
    number = int(example.id.removeprefix("chal-"))
    assert example.source == f"Tom has {number} apples. He gets 2 more.\nHow many apples does he have?"
    assert example.evidence_text() == [str(number), "2"]


def test_svamp_needs_all_1000_problems(hub) -> None:
    row = {"ID": "chal-1", "Body": "b 1", "Question": "q", "Equation": "( 1.0 )", "Answer": 1.0, "Type": "T"}
    hub({("ChilleD/SVAMP", None, "train"): [row], ("ChilleD/SVAMP", None, "test"): [row | {"ID": "chal-2"}]})
    with pytest.raises(ValueError, match="svamp: expected 1000 problems, read 2"):
        get_task("svamp").load("test")
