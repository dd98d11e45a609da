"""The one-pass two-task loss equals DSS's two plain forward passes, in value and in gradient."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import DataCollatorForSeq2Seq

from tokendistill.training.features import EXPLAIN, PREDICT, MultiTaskCollator, encode_examples
from tokendistill.training.loss import task_losses
from tokendistill.training.trainer import DistillTrainer
from training_helpers import synthetic_nli, tiny_model_for

ALPHA = 0.3


@pytest.fixture(scope="module")
def examples():
    return synthetic_nli(size=12).load("train")[:6]


def rationales_for(examples, skip=()):
    """Rationales of very different lengths (1 to 11 words) so padding differs between the two tasks."""
    words = ["the", "red", "box", "is", "on", "the", "shelf", "by", "the", "blue", "door"]
    return {e.id: " ".join(words[: 1 + 2 * i]) for i, e in enumerate(examples) if e.id not in skip}


def batches(examples, tokenizer, model, rationales):
    rows = encode_examples(
        examples,
        tokenizer,
        max_input_length=64,
        max_target_length=32,
        prefix="predict: ",
        rationales=rationales,
    )
    combined = MultiTaskCollator(tokenizer, model)(list(rows))
    plain = DataCollatorForSeq2Seq(tokenizer, model=model)
    predict = plain([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])
    if rationales is None:
        return combined, predict, None
    explain = plain(
        [
            {"input_ids": r["explain_input_ids"], "labels": r["explain_labels"]}
            for r in rows
            if r["explain_labels"]
        ]
    )
    return combined, predict, explain


def one_pass(model, combined, weights):
    inputs = {k: v for k, v in combined.items() if k not in ("labels", "task")}
    return task_losses(model(**inputs).logits, combined["labels"], combined["task"], weights)


def gradients(model, loss):
    model.zero_grad()
    loss.backward()
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("architecture", ["t5", "bart"])
@pytest.mark.parametrize("skip", [(), ("synthetic-nli-train-2",)], ids=["all", "one-without-rationale"])
def test_one_pass_loss_and_gradients_equal_two_plain_passes(examples, architecture, skip):
    model, tokenizer = tiny_model_for(examples, architecture)
    model.double()
    assert skip == () or skip[0] in {e.id for e in examples}
    combined, predict, explain = batches(examples, tokenizer, model, rationales_for(examples, skip))
    # Mixed lengths: the explain targets are padded much further in the combined batch than on their own.
    assert combined["labels"].shape[1] > predict["labels"].shape[1]
    assert combined["task"].tolist().count(EXPLAIN) == len(examples) - len(skip)

    assert_equal_to_two_plain_passes(model, one_pass(model, combined, (ALPHA, 1 - ALPHA)), predict, explain)


def assert_equal_to_two_plain_passes(model, losses, predict, explain) -> None:
    """``losses`` (and their gradients) equal DSS's reference: the model's own loss on each task's batch."""
    grads = gradients(model, losses.total)
    label_loss, rationale_loss = model(**predict).loss, model(**explain).loss
    reference = ALPHA * label_loss + (1 - ALPHA) * rationale_loss
    reference_grads = gradients(model, reference)

    torch.testing.assert_close(losses.label, label_loss.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(losses.rationale, rationale_loss.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(losses.total, reference.detach(), rtol=1e-12, atol=1e-12)
    assert len(grads) == len(reference_grads) > 0
    for mine, theirs in zip(grads, reference_grads, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-12)


def test_float32_loss_within_1e_5(examples):
    model, tokenizer = tiny_model_for(examples)
    combined, predict, explain = batches(examples, tokenizer, model, rationales_for(examples))
    losses = one_pass(model, combined, (ALPHA, 1 - ALPHA))
    reference = ALPHA * model(**predict).loss + (1 - ALPHA) * model(**explain).loss
    torch.testing.assert_close(losses.total, reference, rtol=1e-5, atol=1e-5)


def test_without_task_tensor_the_loss_is_the_models_own(examples):
    model, tokenizer = tiny_model_for(examples)
    combined, predict, _ = batches(examples, tokenizer, model, None)
    assert "task" not in combined
    inputs = {k: v for k, v in predict.items() if k != "labels"}
    losses = task_losses(model(**inputs).logits, predict["labels"], None, (1.0, 0.0))
    torch.testing.assert_close(losses.total, model(**predict).loss, rtol=1e-6, atol=1e-6)
    assert losses.rationale.item() == 0.0


def test_a_task_absent_from_the_batch_contributes_zero():
    logits = torch.randn(2, 3, 5)
    labels = torch.tensor([[1, 2, -100], [3, -100, -100]])
    task = torch.tensor([PREDICT, PREDICT])
    losses = task_losses(logits, labels, task, (0.5, 0.5))
    by_hand = torch.nn.functional.cross_entropy(logits.reshape(-1, 5), labels.reshape(-1), ignore_index=-100)
    assert losses.rationale.item() == 0.0
    torch.testing.assert_close(losses.total, 0.5 * by_hand)


@pytest.mark.parametrize("skip", [(), ("synthetic-nli-train-2",)], ids=["all", "one-without-rationale"])
def test_one_pass_per_task_option_gives_the_same_loss_and_gradients(examples, skip):
    """``task_passes=2`` (DSS's two passes, each cut to its own padding) equals the plain per-task losses."""
    model, tokenizer = tiny_model_for(examples)
    model.double()
    combined, predict, explain = batches(examples, tokenizer, model, rationales_for(examples, skip))
    inputs = {k: v for k, v in combined.items() if k not in ("labels", "task")}
    trainer_state = SimpleNamespace(task_weights=(ALPHA, 1 - ALPHA))
    losses = DistillTrainer._losses_one_pass_per_task(
        trainer_state, model, inputs, combined["labels"], combined["task"]
    )
    assert_equal_to_two_plain_passes(model, losses, predict, explain)
