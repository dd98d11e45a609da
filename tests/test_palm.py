"""DSS's PaLM rationales: parsed as DSS does, aligned with our examples, at the rates the README reports."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from tokendistill.data.errors import DataError
from tokendistill.data.palm import (
    PalmRationale,
    load_palm_rationales,
    parse_completion,
    parse_failures,
    read_completions,
)
from tokendistill.data.tasks import get_task


@pytest.mark.parametrize(
    ("task", "completion", "expected"),
    [
        (
            "anli1",
            "The premise says he was a senator. So the answer is entailment.\n\nPremise: Next example",
            PalmRationale("The premise says he was a senator.", "entailment"),
        ),
        (
            "anli1",
            "No marker here.\n\nPremise: Next example. So the answer is neutral.",
            PalmRationale("", None),
        ),
        (
            "esnli",
            "The to go packages are not necessarily from lunch.\nAnswer: neutral\n\nPremise: Two women",
            PalmRationale("The to go packages are not necessarily from lunch.", "neutral"),
        ),
        (
            "esnli",
            "A rationale that never answers.\n",
            PalmRationale("A rationale that never answers.", None),
        ),
        (
            "cqa",
            "Only a train station is where a bum would live. So the answer is (c) train station.\n\nQ: What",
            PalmRationale("Only a train station is where a bum would live.", "train station"),
        ),
        (
            "cqa",
            "Only these hold tools. So the answer is one of these.\n\nQ: x",
            PalmRationale("Only these hold tools.", None),
        ),
        (
            "svamp",
            "So he scored 84 points in 2 rounds. 84 / 2 = 42. The answer is (84 / 2).\n\nQ: There are 12",
            PalmRationale("So he scored 84 points in 2 rounds. 84 / 2 = 42.", "(84 / 2)"),
        ),
        ("svamp", "So 3 + 4 = 7 apples.\n\nQ: The answer is (1 + 1).", PalmRationale(" ", None)),
        ("svamp", "So 9 + 6 = 15. The answer is (9 + 6", PalmRationale("So 9 + 6 = 15.", None)),
    ],
)
def test_parse_completion_as_dss(task: str, completion: str, expected: PalmRationale) -> None:
    assert parse_completion(task, completion) == expected


def test_unknown_task_has_no_rationales() -> None:
    with pytest.raises(KeyError, match="no DSS PaLM rationales for task 'jsonl'"):
        parse_completion("jsonl", "text")


@pytest.mark.parametrize(
    ("task", "split", "agree", "total", "failures"),
    [
        # README: anli1 valid 668/1000, test 656/1000, parse failures valid 9, test 10
        ("anli1", "validation", 668, 1000, 9),
        ("anli1", "test", 656, 1000, 10),
        # README: esnli valid 7201/9842 (4 failures), test 7171/9824 (none listed)
        ("esnli", "validation", 7201, 9842, 4),
        ("esnli", "test", 7171, 9824, 0),
        # README: cqa test 943/1221, no parse failures
        ("cqa", "test", 943, 1221, 0),
        # README: svamp test 148/200, 2 parse failures
        ("svamp", "test", 148, 200, 2),
    ],
)
def test_alignment_rates_match_the_readme(
    shared_data: Path, task: str, split: str, agree: int, total: int, failures: int
):
    examples = get_task(task).load(split, shared_data)
    rationales = load_palm_rationales(task, split, shared_data)
    assert set(rationales) == {example.id for example in examples} and len(examples) == total
    assert agreements(task, examples, rationales) == agree
    assert parse_failures(rationales.values()) == failures


def agreements(task_name: str, examples, rationales) -> int:
    task = get_task(task_name)
    return sum(
        rationales[example.id].answer is not None and task.is_correct(rationales[example.id].answer, example)
        for example in examples
    )


def test_cqa_train_alignment_over_the_holdout(shared_data: Path) -> None:
    """README: cqa train 7234/9741; our train and validation are DSS's holdout of those 9,741 rows."""
    task = get_task("cqa")
    pairs = [
        (task.load(split, shared_data), load_palm_rationales("cqa", split, shared_data))
        for split in ("train", "validation")
    ]
    assert sum(len(examples) for examples, _ in pairs) == 9741
    assert sum(agreements("cqa", examples, rationales) for examples, rationales in pairs) == 7234
    # The README counts completions with no "So the answer is" as failures: none. Three more say "So the
    # answer is one of these (four)." with no lettered choice, which DSS's regex cannot parse either.
    failed = [
        rationale for _, rationales in pairs for rationale in rationales.values() if rationale.answer is None
    ]
    assert len(failed) == 3


def test_svamp_train_alignment_over_the_holdout(shared_data: Path) -> None:
    """README: svamp train 588/800 with 11 parse failures; here 586 and 13, for the reasons below."""
    task = get_task("svamp")
    pairs = [
        (task.load(split, shared_data), load_palm_rationales("svamp", split, shared_data))
        for split in ("train", "validation")
    ]
    examples = [example for examples, _ in pairs for example in examples]
    rationales = {key: value for _, part in pairs for key, value in part.items()}
    assert len(examples) == 800
    # DSS scores with Python's eval, which reads "(53 + 17) and (14 - 10)" as its last operand; the
    # arithmetic evaluator rejects "and". Exactly two train answers are right only under that reading.
    assert agreements("svamp", examples, rationales) == 588 - 2
    right_by_last_operand = [
        example.id
        for example in examples
        if (answer := rationales[example.id].answer) is not None
        and " and " in answer
        and task.is_correct(re.findall(r"\([^()]*\)", answer)[-1], example)
    ]
    assert len(right_by_last_operand) == 2
    # The README's 11 failures lack "The answer is"; 2 more have it but with an unclosed "(".
    failures = [
        completion
        for completion in read_completions("svamp", "train", shared_data)
        if parse_completion("svamp", completion).answer is None
    ]
    assert parse_failures(rationales.values()) == len(failures) == 13
    assert sum("The answer is" in completion.split("Q:")[0] for completion in failures) == 2


@pytest.mark.parametrize(("task", "total", "failures"), [("anli1", 16946, 122), ("esnli", 549367, 8593)])
def test_train_completions_without_inputs(shared_data: Path, task: str, total: int, failures: int) -> None:
    """The NLI train inputs are not staged but their completions are; README: 122 and 8,593 failures."""
    completions = read_completions(task, "train", shared_data)
    assert len(completions) == total
    assert parse_failures(parse_completion(task, completion) for completion in completions) == failures
    with pytest.raises(FileNotFoundError, match="inputs are not staged"):
        load_palm_rationales(task, "train", shared_data)


def test_cqa_rationales_are_joined_by_id_not_position(shared_data: Path) -> None:
    """cqa_test.json is in CoS-E order, not the official dev order, so a positional join would be wrong."""
    with gzip.open(shared_data / "cqa/palm/cqa_test.json.gz", "rt") as handle:
        dss_ids = [json.loads(line)["id"] for line in handle]
    examples = get_task("cqa").load("test", shared_data)
    assert [example.id for example in examples] != dss_ids and sorted(dss_ids) == sorted(
        e.id for e in examples
    )
    rationales = load_palm_rationales("cqa", "test", shared_data)
    first = parse_completion("cqa", read_completions("cqa", "test", shared_data)[0])
    assert rationales[dss_ids[0]] == first


def write_gz_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(value, handle)


def test_batches_must_have_the_dss_batch_size(tmp_path: Path) -> None:
    llm = tmp_path / "svamp" / "palm" / "llm"
    write_gz_json(llm / "train_CoT_0.json.gz", ["x"] * 499)  # a non-final batch must hold 500
    write_gz_json(llm / "train_CoT_1.json.gz", ["x"] * 10)
    with pytest.raises(DataError, match=r"train_CoT_0\.json\.gz: 499 completions; DSS batches hold 500"):
        read_completions("svamp", "train", tmp_path)


def test_completion_files_must_be_string_arrays(tmp_path: Path) -> None:
    write_gz_json(tmp_path / "cqa" / "palm" / "llm" / "test_CoT_0.json.gz", {"not": "a list"})
    with pytest.raises(DataError, match="expected a JSON array of strings"):
        read_completions("cqa", "test", tmp_path)
