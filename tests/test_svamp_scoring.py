"""SVAMP is scored by the value of the predicted equation, in ``evaluate_model`` and in model selection.

A staged SVAMP file is written with hand-chosen equations, and a real tiny model's ``generate`` is replaced
by one that returns a chosen text for each input, so every accuracy below is worked out by hand. The
cases tell apart the task's metric from an exact string match (equivalent equations, bare values) and from
a comparison of absolute values (negative golds, negated predictions).
"""

from __future__ import annotations

import gzip
import json

import pytest
import torch
from transformers import T5ForConditionalGeneration

from tokendistill.data.tasks import get_task
from tokendistill.data.tasks.svamp import SIZE, dss_split_ids
from tokendistill.models import load_model_and_tokenizer
from tokendistill.training.evaluation import evaluate_model
from tokendistill.training.models import build_tiny_for_task
from tokendistill.training.student import train_student
from training_helpers import quick_config

# (gold equation, scripted prediction, right?) for validation examples 0..5, 6..11, ...
CASES = [
    ("( 4.0 - 6.0 )", "( 3.0 - 5.0 )", True),  # another equation of the same negative value
    ("( 7.0 - 9.0 )", "-2", True),  # the negative value itself
    ("( 2.0 - 8.0 )", "6", False),  # the absolute value of a negative gold
    ("( 8.0 - 2.0 )", "( 2.0 - 8.0 )", False),  # the negated value
    ("( 5.0 + 4.0 )", "( 5.0 + 4.0 )", True),  # the gold equation itself
    ("( 9.0 - 4.0 )", "( 4.0 + 4.0 )", False),  # another value
]
PREDICTION = {gold: prediction for gold, prediction, _ in CASES}
N = 12  # validation examples scored: each case twice
ACCURACY = 6 / 12  # by hand: cases 0, 1 and 4; an exact string match gives 2/12, absolute values 10/12


def problem(number: int, equation: str) -> dict[str, str]:
    first, second = (int(float(token)) for token in equation.split()[1::2])
    return {
        "ID": f"chal-{number}",
        "Body": f"Item {number}: a shelf holds {first} cups and {second} balls.",
        "Question": "How many more cups than balls?",
        "Equation": equation,
        "Type": "Subtraction",
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A staged ``svamp/all.jsonl.gz`` whose first N validation problems go through CASES in order."""
    folder = tmp_path_factory.mktemp("data")
    validation = dss_split_ids()["validation"]
    gold = {id: CASES[position % len(CASES)][0] for position, id in enumerate(validation[:N])}
    rows = [problem(n, gold.get(f"chal-{n}", CASES[n % len(CASES)][0])) for n in range(1, SIZE + 1)]
    (folder / "svamp").mkdir()
    with gzip.open(folder / "svamp/all.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    return folder


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, data_dir):
    return build_tiny_for_task("svamp", tmp_path_factory.mktemp("tiny"), data_dir=data_dir, vocab_size=300)


@pytest.fixture
def scripted_generation(monkeypatch, data_dir, tiny_dir):
    """Tiny T5 models 'generate' PREDICTION[gold] for each validation input, in any batch and order."""
    _, tokenizer = load_model_and_tokenizer(tiny_dir)
    examples = get_task("svamp").load("validation", data_dir)
    by_input = {tuple(tokenizer(e.source)["input_ids"]): PREDICTION[e.target] for e in examples}

    def generate(self, input_ids, attention_mask, **kwargs):
        rows = zip(input_ids, attention_mask, strict=True)
        texts = [by_input[tuple(ids[mask.bool()].tolist())] for ids, mask in rows]
        generated = tokenizer(text_target=texts, padding=True, return_tensors="pt")["input_ids"]
        start = torch.full((len(texts), 1), self.config.decoder_start_token_id)
        return torch.cat([start, generated], dim=1).to(input_ids.device)

    monkeypatch.setattr(T5ForConditionalGeneration, "generate", generate)


@pytest.mark.parametrize(("gold", "prediction", "right"), CASES)
def test_the_task_compares_values_with_their_sign(data_dir, gold, prediction, right):
    (example,) = [e for e in get_task("svamp").load("validation", data_dir) if e.target == gold][:1]
    assert get_task("svamp").is_correct(prediction, example) is right


def test_evaluate_model_scores_equation_values(scripted_generation, data_dir, tiny_dir, tmp_path):
    metrics = evaluate_model(
        tiny_dir, "svamp", "validation", tmp_path, data_dir=data_dir, max_examples=N, batch_size=5
    )
    assert metrics["n"] == N and metrics["accuracy"] == ACCURACY
    rows = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [(row["target"], row["prediction"], row["correct"]) for row in rows] == CASES * (N // len(CASES))


def test_model_selection_scores_equation_values(scripted_generation, data_dir, tiny_dir, tmp_path):
    """The trainer's validation metric (``compute_metrics``) scores by value too."""
    config = quick_config(max_steps=1, eval_steps=1, batch_size=4, max_train_examples=8, max_eval_examples=N)
    result = train_student(tiny_dir, "svamp", tmp_path / "student", data_dir=data_dir, config=config)
    assert result.validation_accuracy == ACCURACY
    history = json.loads((tmp_path / "student/trainer_state.json").read_text())["log_history"]
    assert [entry["eval_accuracy"] for entry in history if "eval_accuracy" in entry] == [ACCURACY]
