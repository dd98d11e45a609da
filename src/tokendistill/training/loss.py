"""The two-task loss of Distilling Step-by-Step, from one forward pass over both tasks' sequences.

DSS runs the model twice per step (once on the ``predict:`` batch, once on the ``explain:`` batch) and
adds ``alpha * label_loss + (1 - alpha) * rationale_loss``. Here both tasks share one padded batch and
each task's loss is the mean over its own target tokens, which is exactly what a separate
``model(**task_batch).loss`` returns (Hugging Face models average over the tokens that carry a label).
The token log-probabilities come from the model family's ``target_log_probs``, the same call attribution
differentiates.
No library computes per-task token means over a mixed batch, hence this module.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from tokendistill.training.features import EXPLAIN, PREDICT


class TaskLosses(NamedTuple):
    total: torch.Tensor
    label: torch.Tensor  # predict task: mean over its target tokens
    rationale: torch.Tensor  # explain task: mean over its target tokens


def task_losses(
    log_probs: torch.Tensor,
    target_mask: torch.Tensor,
    task: torch.Tensor | None,
    weights: tuple[float, float],
) -> TaskLosses:
    """``weights[0] * label_loss + weights[1] * rationale_loss`` for a batch of both tasks.

    ``log_probs`` and ``target_mask`` (both (batch, length)) are ``ModelFamily.target_log_probs`` and
    ``target_mask`` of the batch; ``task`` (batch,) holds ``PREDICT``/``EXPLAIN`` per sequence (``None``: all
    predict). A task with no target tokens in the batch contributes zero (an example without a rationale
    trains on its predict task only).
    """
    if task is None:
        task = torch.full(target_mask.shape[:1], PREDICT, device=target_mask.device)
    means = []
    for task_id in (PREDICT, EXPLAIN):
        mask = target_mask & task.eq(task_id).unsqueeze(1)
        means.append(-log_probs.masked_select(mask).sum() / mask.sum().clamp(min=1))
    label, rationale = means
    return TaskLosses(weights[0] * label + weights[1] * rationale, label, rationale)
