"""The Seq2SeqTrainer subclass every teacher and student trains with, and its accuracy metric."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from transformers import EvalPrediction, PreTrainedTokenizerBase, Seq2SeqTrainer
from transformers.trainer_utils import EvalLoopOutput

from tokendistill.data.example import Example
from tokendistill.data.tasks.base import Task
from tokendistill.training.evaluation import decode_predictions, score
from tokendistill.training.features import EXPLAIN, PREDICT
from tokendistill.training.loss import IGNORE_INDEX, TaskLosses, task_losses


class DistillTrainer(Seq2SeqTrainer):
    """Seq2SeqTrainer whose loss is ``task_weights[0] * label_loss + task_weights[1] * rationale_loss``.

    One forward pass covers both tasks of a batch (see ``tokendistill.training.loss``); a teacher or a
    standard student uses weights ``(1, 0)`` and gets the ordinary token-mean loss. A two-task student's
    per-task losses are logged next to ``loss`` as ``label_loss`` and ``rationale_loss``.
    """

    # compute_loss returns this micro-batch's mean, so the Trainer must divide it by the accumulation steps.
    # Left unset, the Trainer takes a forward with **kwargs (T5's, in transformers 5) to normalise over the
    # whole accumulated batch, skips the division, and the gradient grows with the number of steps
    # (transformers issue 47688; tests/test_training_accumulation.py fails without this line).
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args: Any,
        task_weights: tuple[float, float] = (1.0, 0.0),
        learning_rate_multipliers: Mapping[str, float] | None = None,
        task_passes: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.args.label_smoothing_factor:
            raise ValueError("label smoothing is not supported by the two-task loss; leave it at 0")
        self.task_weights = task_weights
        self.learning_rate_multipliers = dict(learning_rate_multipliers or {})
        self.task_passes = task_passes
        self._task_loss_sum = torch.zeros(2, device=self.args.device)
        self._task_loss_batches = 0

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """The Trainer's optimizer, with each group split by ``learning_rate_multipliers`` (first match).

        The Trainer has no per-parameter learning rates; its scheduler scales every group's initial rate,
        so warm-up and decay apply to the multiplied rates alike. Done before any step (no state to move).
        """
        if self.optimizer is not None or not self.learning_rate_multipliers:
            return super().create_optimizer(model)
        optimizer = super().create_optimizer(model)
        names = {parameter: name for name, parameter in (model or self.model).named_parameters()}
        groups, optimizer.param_groups = optimizer.param_groups, []
        for group in groups:
            by_factor: dict[float, list[nn.Parameter]] = {}
            for parameter in group["params"]:
                factor = next(
                    (f for key, f in self.learning_rate_multipliers.items() if key in names[parameter]), 1.0
                )
                by_factor.setdefault(factor, []).append(parameter)
            for factor, parameters in by_factor.items():
                optimizer.add_param_group({**group, "params": parameters, "lr": group["lr"] * factor})
        return optimizer

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        task = inputs.pop("task", None)
        if self.task_passes == 2 and task is not None and model.training:
            outputs, losses = None, self._losses_one_pass_per_task(model, inputs, labels, task)
        else:
            outputs = model(**inputs)  # decoder_input_ids come from the collator: the model computes no loss
            losses = task_losses(outputs.logits, labels, task, self.task_weights)
        if model.training and self.task_weights[1]:
            self._task_loss_sum += torch.stack([losses.label, losses.rationale]).detach()
            self._task_loss_batches += 1
        return (losses.total, outputs) if return_outputs else losses.total

    def _losses_one_pass_per_task(
        self, model: nn.Module, inputs: dict[str, torch.Tensor], labels: torch.Tensor, task: torch.Tensor
    ) -> TaskLosses:
        """DSS's two passes: each task's rows alone, cut to their own longest input and target.

        The collator pads right, so cutting the trailing columns no row of the task uses drops only padding.
        """
        means = []
        for task_id in (PREDICT, EXPLAIN):
            rows = task.eq(task_id).nonzero().squeeze(1)
            source_length = int(inputs["attention_mask"][rows].sum(dim=1).max()) if rows.numel() else 0
            target_length = int(labels[rows].ne(IGNORE_INDEX).sum(dim=1).max()) if rows.numel() else 0
            if target_length == 0:  # no sequence of this task has a target in this batch
                means.append(labels.new_zeros((), dtype=torch.float32))
                continue
            task_inputs = {
                name: value[
                    rows, : (source_length if name in ("input_ids", "attention_mask") else target_length)
                ]
                for name, value in inputs.items()
            }
            task_labels = labels[rows, :target_length]
            means.append(task_losses(model(**task_inputs).logits, task_labels, None, (1.0, 0.0)).label)
        label, rationale = means
        return TaskLosses(self.task_weights[0] * label + self.task_weights[1] * rationale, label, rationale)

    def evaluation_loop(self, *args: Any, **kwargs: Any) -> EvalLoopOutput:
        # Seq2SeqTrainer gathers generations with plain `gather` (for num_return_sequences > 1, transformers
        # PR 27025), which under DDP keeps the samples added to even out the last batch, so compute_metrics
        # sees more predictions than examples (transformers issue 30767). One greedy sequence per input is
        # exactly the case `gather_for_metrics` handles.
        self.gather_function = self.accelerator.gather_for_metrics
        return super().evaluation_loop(*args, **kwargs)

    def _issue_warnings_after_load(self, load_result: Any) -> None:
        # The Trainer reloads checkpoints (the best model at the end, resuming) with torch's load_state_dict,
        # which reports tied weights as missing: save_pretrained stores a tied group once (T5's embeddings and
        # lm_head as `shared`), and loading that one filled them all. from_pretrained leaves them out of its
        # missing keys; so does this, while a weight tied to one that was not loaded is still reported
        # (transformers issue 27972).
        tied = getattr(self.accelerator.unwrap_model(self.model), "all_tied_weights_keys", None) or {}
        missing = set(load_result.missing_keys)
        kept = [key for key in load_result.missing_keys if tied.get(key) is None or tied[key] in missing]
        super()._issue_warnings_after_load(load_result._replace(missing_keys=kept))

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._task_loss_batches:
            means = self.accelerator.reduce(self._task_loss_sum / self._task_loss_batches, reduction="mean")
            logs["label_loss"], logs["rationale_loss"] = (round(value, 4) for value in means.tolist())
            self._task_loss_sum.zero_()
            self._task_loss_batches = 0
        super().log(logs, start_time)


def accuracy_metric(
    task: Task, examples: Sequence[Example], tokenizer: PreTrainedTokenizerBase
) -> Callable[[EvalPrediction], dict[str, float]]:
    """``compute_metrics`` for the Trainer: accuracy of the generated predictions on ``examples``.

    The Trainer evaluates its eval dataset in order (and drops the duplicates a distributed sampler adds),
    so prediction ``i`` belongs to ``examples[i]``.
    """

    def compute(prediction: EvalPrediction) -> dict[str, float]:
        correct = score(task, examples, decode_predictions(tokenizer, prediction.predictions))
        return {"accuracy": sum(correct) / len(correct)}

    return compute
