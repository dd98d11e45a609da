"""Decoder-only teachers and students: LoRA with the causal task type merged on save, full fine-tuning, and
rationales crossing families (a decoder-only teacher's rationale words train a seq2seq student and back)."""

from __future__ import annotations

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, LlamaForCausalLM

from tokendistill.attribution.stage import rationale_records
from tokendistill.models import load_model_and_tokenizer
from tokendistill.training.config import LoraSettings
from tokendistill.training.evaluation import evaluate_model
from tokendistill.training.models import build_tiny_for_task
from tokendistill.training.student import train_student
from tokendistill.training.teacher import train_teacher
from training_helpers import ColourTask, quick_config, synthetic_nli


@pytest.fixture(scope="module")
def task():
    return ColourTask()


def test_full_fine_tuning_of_a_decoder_only_teacher_learns_the_task(task, tmp_path):
    tiny_dir = build_tiny_for_task(task, tmp_path / "tiny", vocab_size=300, architecture="llama")
    result = train_teacher(tiny_dir, task, tmp_path / "teacher", config=quick_config())
    assert result.validation_accuracy >= 0.8  # chance: 1/6
    metrics = evaluate_model(result.output_dir, task, "validation", tmp_path / "eval", bootstrap_samples=10)
    assert metrics["accuracy"] == result.validation_accuracy  # the same generation and scoring as training


def test_lora_decoder_only_teacher_saves_merged_weights(task, tmp_path):
    tiny_dir = build_tiny_for_task(task, tmp_path / "tiny", vocab_size=300, architecture="llama")
    lora = LoraSettings(r=4, alpha=8, dropout=0.0)
    config = quick_config(learning_rate=1e-2, max_steps=20, eval_steps=10)
    result = train_teacher(tiny_dir, task, tmp_path / "teacher", lora=lora, config=config)
    adapter = result.output_dir / result.best_checkpoint
    assert '"task_type": "CAUSAL_LM"' in (adapter / "adapter_config.json").read_text()
    assert not (result.output_dir / "adapter_config.json").exists()

    merged = AutoModelForCausalLM.from_pretrained(result.output_dir)
    assert type(merged) is LlamaForCausalLM
    base, tokenizer = load_model_and_tokenizer(tiny_dir)
    base_weights = {name: value.clone() for name, value in base.state_dict().items()}
    adapted = PeftModel.from_pretrained(base, adapter)
    changed = {name for name, value in merged.state_dict().items() if not value.equal(base_weights[name])}
    assert changed and all(name.endswith(("q_proj.weight", "v_proj.weight")) for name in changed)
    batch = tokenizer([e.source for e in task.load("validation")[:8]], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(
            merged.eval()(**batch).logits, adapted.eval()(**batch).logits, rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize(("teacher_architecture", "student_architecture"), [("llama", "t5"), ("t5", "gpt2")])
def test_rationales_cross_families(tmp_path, teacher_architecture, student_architecture):
    """Rationales are text: a teacher of one family explains, a student of the other learns both tasks."""
    task = synthetic_nli(size=64, validation_size=16)
    config = quick_config(max_steps=4, eval_steps=4, batch_size=8, max_new_tokens=4)
    teacher_dir = build_tiny_for_task(task, tmp_path / "t", vocab_size=300, architecture=teacher_architecture)
    teacher = train_teacher(teacher_dir, task, tmp_path / "teacher", config=config)
    model, tokenizer = load_model_and_tokenizer(teacher.output_dir)
    train = task.load("train")
    records = rationale_records(model, tokenizer, train, k=3, batch_size=16, target="gold")
    rationales = {record.id: record.rationale for record in records}
    for example in train:
        words = rationales[example.id].split()
        assert len(words) == 3 and all(word in example.source for word in words)

    student_dir = build_tiny_for_task(task, tmp_path / "s", vocab_size=300, architecture=student_architecture)
    student = train_student(
        student_dir,
        task,
        tmp_path / "student",
        mode="rationale",
        rationales=rationales,
        alpha=0.3,
        config=config,
    )
    assert student.global_step == 4 and student.explain_skipped == 0
    metrics = evaluate_model(student.output_dir, task, "validation", tmp_path / "eval", bootstrap_samples=10)
    assert metrics["accuracy"] == student.validation_accuracy
