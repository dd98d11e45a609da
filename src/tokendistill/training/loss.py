"""The two-task loss of Distilling Step-by-Step, from one forward pass over both tasks' sequences.

DSS runs the model twice per step (once on the ``predict:`` batch, once on the ``explain:`` batch) and
adds ``alpha * label_loss + (1 - alpha) * rationale_loss``. Here both tasks share one padded batch and
each task's loss is the mean over its own target tokens, which is exactly what a separate
``model(**task_batch).loss`` returns (Hugging Face seq2seq models average over non-padding labels).
No library computes per-task token means over a mixed batch, hence this module.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from tokendistill.training.features import EXPLAIN, PREDICT

IGNORE_INDEX = -100


class TaskLosses(NamedTuple):
    total: torch.Tensor
    label: torch.Tensor  # predict task: mean over its target tokens
    rationale: torch.Tensor  # explain task: mean over its target tokens


def task_losses(
    logits: torch.Tensor, labels: torch.Tensor, task: torch.Tensor | None, weights: tuple[float, float]
) -> TaskLosses:
    """``weights[0] * label_loss + weights[1] * rationale_loss`` for a batch of both tasks.

    ``logits`` is (batch, length, vocab), ``labels`` (batch, length) with -100 at padding, ``task`` (batch,)
    holds ``PREDICT``/``EXPLAIN`` per sequence (``None``: all predict). A task with no target tokens in the
    batch contributes zero (an example without a rationale trains on its predict task only).
    """
    token_losses = F.cross_entropy(
        logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="none"
    ).view_as(labels)
    targets = labels.ne(IGNORE_INDEX)
    if task is None:
        task = torch.full(labels.shape[:1], PREDICT, device=labels.device)
    means = []
    for task_id in (PREDICT, EXPLAIN):
        mask = targets & task.eq(task_id).unsqueeze(1)
        means.append(token_losses.masked_select(mask).sum() / mask.sum().clamp(min=1))
    label, rationale = means
    return TaskLosses(weights[0] * label + weights[1] * rationale, label, rationale)
