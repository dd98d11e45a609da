"""The one-pass two-task loss equals DSS's two plain forward passes, in value and in gradient."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import DataCollatorForSeq2Seq

from tokendistill.models import IGNORE_INDEX, family_of
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
        family_of(model),
        max_input_length=64,
        max_target_length=32,
        prefix="predict: ",
        rationales=rationales,
    )
    combined = MultiTaskCollator(tokenizer, model)(list(rows))
    plain = (
        DataCollatorForSeq2Seq(tokenizer, model=model) if model.config.is_encoder_decoder else causal_batch
    )
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


def causal_batch(rows):
    """A plain decoder-only batch built by hand: source then target, right-padded, loss on the target only."""
    sequences = [r["input_ids"] + r["labels"] for r in rows]
    width = max(map(len, sequences))
    return {
        "input_ids": torch.tensor([s + [0] * (width - len(s)) for s in sequences]),
        "attention_mask": torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences]),
        "labels": torch.tensor(
            [
                [IGNORE_INDEX] * len(r["input_ids"]) + r["labels"] + [IGNORE_INDEX] * (width - len(s))
                for r, s in zip(rows, sequences, strict=True)
            ]
        ),
    }


def plain_loss(model, batch):
    """The model's own loss on a plain batch; for a decoder-only model, the same shifted token mean
    written out (its own loss upcasts the logits to float32 only, which would lose float64 precision)."""
    if model.config.is_encoder_decoder:
        return model(**batch).loss
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].flatten(0, 1), batch["labels"][:, 1:].flatten(), ignore_index=IGNORE_INDEX
    )


def one_pass(model, batch, weights):
    family = family_of(model)
    inputs = {k: v for k, v in batch.items() if k != "task"}
    log_probs = family.target_log_probs(model, inputs)
    return task_losses(log_probs, family.target_mask(inputs), batch.get("task"), weights)


def gradients(model, loss):
    model.zero_grad()
    loss.backward()
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("architecture", ["t5", "bart", "llama", "gpt2"])
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
    label_loss, rationale_loss = plain_loss(model, predict), plain_loss(model, explain)
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
    losses = one_pass(model, predict, (1.0, 0.0))
    torch.testing.assert_close(losses.total, model(**predict).loss, rtol=1e-6, atol=1e-6)
    assert losses.rationale.item() == 0.0


def test_a_task_absent_from_the_batch_contributes_zero():
    logits = torch.randn(2, 3, 5)
    labels = torch.tensor([[1, 2, IGNORE_INDEX], [3, IGNORE_INDEX, IGNORE_INDEX]])
    task = torch.tensor([PREDICT, PREDICT])
    log_probs = logits.log_softmax(-1).gather(2, labels.clamp(min=0)[..., None])[..., 0]
    losses = task_losses(log_probs, labels.ne(IGNORE_INDEX), task, (0.5, 0.5))
    by_hand = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 5), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )
    assert losses.rationale.item() == 0.0
    torch.testing.assert_close(losses.total, 0.5 * by_hand)


@pytest.mark.parametrize("architecture", ["t5", "llama"])
@pytest.mark.parametrize("skip", [(), ("synthetic-nli-train-2",)], ids=["all", "one-without-rationale"])
def test_one_pass_per_task_option_gives_the_same_loss_and_gradients(examples, architecture, skip):
    """``task_passes=2`` (DSS's two passes, each cut to its own padding) equals the plain per-task losses."""
    model, tokenizer = tiny_model_for(examples, architecture)
    model.double()
    combined, predict, explain = batches(examples, tokenizer, model, rationales_for(examples, skip))
    inputs = {k: v for k, v in combined.items() if k != "task"}
    trainer_state = SimpleNamespace(task_weights=(ALPHA, 1 - ALPHA), family=family_of(model))
    losses = DistillTrainer._losses_one_pass_per_task(trainer_state, model, inputs, combined["task"])
    assert_equal_to_two_plain_passes(model, losses, predict, explain)
