"""A run shows progress and results, not transformers' warnings about settings the library made itself.

Two used to appear: "Both `max_new_tokens` and `max_length` seem to have been set" on every generation batch
(validation, evaluation, the attribution engine's own predictions), and "There were missing keys in the
checkpoint model loaded" for the tied embeddings of every reloaded checkpoint (best model, resume).
"""

from __future__ import annotations

import logging

import pytest

from tokendistill.attribution.engine import attribute
from tokendistill.models import load_model_and_tokenizer
from tokendistill.training.evaluation import evaluate_model
from tokendistill.training.models import build_tiny_for_task
from tokendistill.training.student import train_student
from training_helpers import ColourTask, quick_config, settings_noise, transformers_messages


@pytest.mark.parametrize("architecture", ["t5", "bart"])
def test_train_resume_evaluate_and_attribute_without_warnings_about_our_settings(architecture, tmp_path):
    task = ColourTask()
    tiny_dir = build_tiny_for_task(task, tmp_path / "tiny", architecture=architecture, vocab_size=300)
    # Several validation batches at two evaluations (the warning used to start at the second batch), then the
    # best checkpoint reloaded; a second session resumes from the last checkpoint and reloads the best again.
    settings = {"batch_size": 8, "eval_batch_size": 4, "max_eval_examples": 12, "eval_steps": 2}
    options = {"mode": "random", "k": 2}
    with transformers_messages() as messages:
        logging.getLogger("transformers.trainer").warning("probe")  # proves the capture sees transformers
        train_student(
            tiny_dir, task, tmp_path / "student", config=quick_config(max_steps=4, **settings), **options
        )
        config = quick_config(max_steps=6, **settings)
        result = train_student(tiny_dir, task, tmp_path / "student", config=config, resume=True, **options)
        evaluate_model(
            result.output_dir, task, "validation", tmp_path / "eval", batch_size=4, max_examples=12
        )
        model, tokenizer = load_model_and_tokenizer(result.output_dir)
        sources = [example.source for example in task.load("validation")[:4]]
        attribute(model, tokenizer, sources, method="saliency", batch_size=2, max_new_tokens=8)

    assert result.global_step == 6 and "probe" in messages()
    assert not settings_noise(messages())
