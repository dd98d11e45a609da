"""Gradient accumulation: two micro-batches of 4 update the weights as one batch of 8 does."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from tokendistill.models import load_model_and_tokenizer
from tokendistill.training.models import build_tiny_for_task
from tokendistill.training.teacher import train_teacher
from training_helpers import ColourTask, quick_config


def test_accumulated_step_equals_one_large_batch_step(tmp_path):
    task = ColourTask()
    tiny_dir = build_tiny_for_task(task, tmp_path / "tiny", vocab_size=300)
    _, tokenizer = load_model_and_tokenizer(tiny_dir)
    # Every target has the same number of tokens, so the mean over 8 examples is the mean of two means of 4.
    assert len({len(tokenizer(text_target=e.target)["input_ids"]) for e in task.load("train")}) == 1
    # Plain SGD, no clipping: the update is proportional to the gradient, so a wrong scale would show
    # (Adam's first step and norm clipping both hide it).
    settings = {
        "max_steps": 1,
        "eval_steps": 1,
        "learning_rate": 0.5,
        "training_args": {"optim": "sgd", "max_grad_norm": 0.0},
    }
    accumulated = train_teacher(
        tiny_dir,
        task,
        tmp_path / "ga",
        config=quick_config(batch_size=4, gradient_accumulation_steps=2, **settings),
    )
    single = train_teacher(tiny_dir, task, tmp_path / "single", config=quick_config(batch_size=8, **settings))

    initial = load_file(tiny_dir / "model.safetensors")
    after_ga = load_file(accumulated.output_dir / "model.safetensors")
    after_single = load_file(single.output_dir / "model.safetensors")
    moved = max((after_single[k] - initial[k]).abs().max().item() for k in initial)
    assert moved > 1e-3
    for key in initial:
        torch.testing.assert_close(after_ga[key], after_single[key], rtol=1e-5, atol=1e-6)
