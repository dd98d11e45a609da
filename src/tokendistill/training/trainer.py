"""The Trainer subclass every teacher and student trains with, for either model family."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from accelerate.utils import gather_object
from torch import nn
from transformers import Trainer

from tokendistill.data.example import Example
from tokendistill.data.tasks.base import Task
from tokendistill.models import family_of
from tokendistill.training.evaluation import score
from tokendistill.training.features import EXPLAIN, PREDICT
from tokendistill.training.loss import TaskLosses, task_losses


class DistillTrainer(Trainer):
    """Trainer whose loss is ``task_weights[0] * label_loss + task_weights[1] * rationale_loss``.

    One forward pass covers both tasks of a batch (see ``tokendistill.training.loss``); a teacher or a
    standard student uses weights ``(1, 0)`` and gets the ordinary token-mean loss. A two-task student's
    per-task losses are logged next to ``loss`` as ``label_loss`` and ``rationale_loss``. Evaluation
    generates greedily from the eval dataset's sources (the model family's one generation loop, the one
    ``evaluate_model`` uses) and reports ``eval_accuracy`` against ``eval_examples``, row for row.
    """

    # compute_loss returns this micro-batch's mean, so the Trainer must divide it by the accumulation steps.
    # Left unset, the Trainer takes a forward with **kwargs (T5's, in transformers 5) to normalise over the
    # whole accumulated batch, skips the division, and the gradient grows with the number of steps
    # (transformers issue 47688; tests/test_training_accumulation.py fails without this line).
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args: Any,
        task: Task | None = None,
        eval_examples: Sequence[Example] = (),
        max_new_tokens: int = 64,
        task_weights: tuple[float, float] = (1.0, 0.0),
        learning_rate_multipliers: Mapping[str, float] | None = None,
        task_passes: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.family = family_of(self.model)
        self.task, self.eval_examples = task, eval_examples
        self.max_new_tokens = max_new_tokens
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
        task = inputs.pop("task", None)
        if self.task_passes == 2 and task is not None and model.training:
            losses = self._losses_one_pass_per_task(model, inputs, task)
        else:
            log_probs = self.family.target_log_probs(model, inputs)
            losses = task_losses(log_probs, self.family.target_mask(inputs), task, self.task_weights)
        if model.training and self.task_weights[1]:
            self._task_loss_sum += torch.stack([losses.label, losses.rationale]).detach()
            self._task_loss_batches += 1
        return (losses.total, None) if return_outputs else losses.total

    def _losses_one_pass_per_task(
        self, model: nn.Module, inputs: dict[str, torch.Tensor], task: torch.Tensor
    ) -> TaskLosses:
        """DSS's two passes: each task's rows alone, cut to their own longest sequences."""
        means = []
        for task_id in (PREDICT, EXPLAIN):
            rows = task.eq(task_id).nonzero().squeeze(1)
            if not rows.numel():  # no sequence of this task in this batch
                means.append(torch.zeros((), device=task.device))
                continue
            task_inputs = self.family.trim(inputs, rows)
            log_probs = self.family.target_log_probs(model, task_inputs)
            means.append(task_losses(log_probs, self.family.target_mask(task_inputs), None, (1.0, 0.0)).label)
        label, rationale = means
        return TaskLosses(self.task_weights[0] * label + self.task_weights[1] * rationale, label, rationale)

    def evaluate(
        self,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """Accuracy of greedy generations; each process generates every world-size-th example and the
        predictions are gathered, so every process computes the same metric."""
        if self.task is None:
            raise ValueError("DistillTrainer evaluates by generation: give it the task and eval_examples")
        sources = self.eval_dataset["input_ids"]
        rank, world = self.args.process_index, self.args.world_size
        mine = list(range(rank, len(sources), world))
        texts = self.family.generate(
            self.model,
            self.processing_class,
            [sources[index] for index in mine],
            batch_size=self.args.per_device_eval_batch_size,
            max_new_tokens=self.max_new_tokens,
        )
        predicted = dict(
            gather_object(list(zip(mine, texts, strict=True))) if world > 1 else zip(mine, texts, strict=True)
        )
        predictions = [predicted[index].strip() for index in range(len(sources))]
        correct = score(self.task, self.eval_examples, predictions)
        metrics = {f"{metric_key_prefix}_accuracy": sum(correct) / len(correct)}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

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
