"""Chat templates (issue 10): a model may read each input as a user message in its tokenizer's chat template.

The tiny Llama's tokenizer gets a small template here. The oracles do not use ``tokendistill.models.prompt``:
``apply_chat_template(tokenize=True)`` for the prompt's ids, a plain ``str.index`` for where the source sits
in the rendered prompt, the model's own loss on one unpadded sequence for the scores, and ``model.generate``
on the templated ids for the continuation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from test_attribution_engine import CORPUS, SOURCES, TARGETS
from tokendistill.attribution import attribute
from tokendistill.attribution.rationale import select_rationale
from tokendistill.attribution.stage import generate_rationales
from tokendistill.attribution.words import aggregate_word_scores, is_punctuation, split_words
from tokendistill.cli import main
from tokendistill.data.errors import DataError
from tokendistill.experiment import stages
from tokendistill.experiment.config import config_to_yaml, validate_config
from tokendistill.experiment.plan import build_plan
from tokendistill.experiment.runner import StageContext, plan_fingerprints
from tokendistill.models import CausalFamily, encode_sources, load_model_and_tokenizer
from tokendistill.models.tiny import build_model, train_tokenizer
from tokendistill.training import evaluation
from tokendistill.training.evaluation import evaluate_model
from tokendistill.training.features import PREDICT_PREFIX, MultiTaskCollator, encode_examples
from tokendistill.training.manifest import read_manifest
from tokendistill.training.models import build_tiny_for_task
from tokendistill.training.teacher import train_teacher
from tokendistill.training.trainer import DistillTrainer
from training_helpers import ColourTask, quick_config

# The template's words include words of the sources ("the", "cat"), so a template token that reached the
# words would change a source word's score; ``trim`` moves the source against its own characters.
TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}the cat asks: {{ message['content'] | trim }} ;"
    "{% endfor %}{% if add_generation_prompt %} answer:{% endif %}"
)
TEMPLATE_ONLY_WORDS = {"asks", "answer", ";"}


@pytest.fixture(scope="module")
def tokenizer():
    tokenizer = train_tokenizer([*CORPUS, "asks answer ;"] * 4, vocab_size=160, decoder_only=True)
    tokenizer.chat_template = TEMPLATE
    return tokenizer


@pytest.fixture(scope="module")
def model(tokenizer):
    return build_model(tokenizer, "llama", d_model=32, d_ff=64, num_heads=2).eval()


def templated_ids(tokenizer, text: str) -> list[int]:
    """The prompt as transformers tokenizes a chat: its own ``apply_chat_template(tokenize=True)``."""
    message = [{"role": "user", "content": text}]
    return list(tokenizer.apply_chat_template(message, add_generation_prompt=True)["input_ids"])


def text_positions(tokenizer, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Positions of the prompt's tokens that overlap the (trimmed) source, and their spans in ``text``."""
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
    )
    core = text.strip()
    start = rendered.index(core, rendered.index("asks:"))
    shift = start - text.index(core)
    encoded = tokenizer(rendered, add_special_tokens=False, return_offsets_mapping=True)
    positions, spans = [], []
    for position, (first, last) in enumerate(encoded["offset_mapping"]):
        if max(first, start) < min(last, start + len(core)):
            positions.append(position)
            spans.append((max(first, start) - shift, min(last, start + len(core)) - shift))
    return positions, spans


def test_the_prompt_is_the_template_around_the_source(tokenizer):
    texts = [" The cat sat. ", *SOURCES]
    for text, encoded in zip(texts, encode_sources(tokenizer, texts, chat_template=True), strict=True):
        assert encoded.input_ids == templated_ids(tokenizer, text)
        positions, spans = text_positions(tokenizer, text)
        assert [i for i, inside in enumerate(encoded.text_mask) if inside] == positions
        assert [encoded.offsets[i] for i in positions] == spans
        assert "".join(text[a:b] for a, b in spans).replace(" ", "") == text.replace(" ", "")
    plain = encode_sources(tokenizer, SOURCES)
    assert [e.input_ids for e in plain] == tokenizer(SOURCES).input_ids  # the option off: as before
    assert all(all(e.text_mask) for e in plain)


def test_truncation_shortens_the_source_and_keeps_the_template_whole(tokenizer):
    text = SOURCES[1]
    full = encode_sources(tokenizer, [text], chat_template=True)[0]
    n_text = sum(full.text_mask)
    short = encode_sources(tokenizer, [text], chat_template=True, max_length=len(full.input_ids) - 3)[0]
    last_text = max(i for i, inside in enumerate(full.text_mask) if inside)
    assert short.input_ids == full.input_ids[: last_text - 2] + full.input_ids[last_text + 1 :]
    assert sum(short.text_mask) == n_text - 3
    with pytest.raises(ValueError, match="leaves no room for the source"):
        encode_sources(tokenizer, [text], chat_template=True, max_length=len(full.input_ids) - n_text)


def test_a_tokenizer_without_a_template_or_a_template_that_rewrites_the_message(tokenizer):
    plain = train_tokenizer(CORPUS, vocab_size=150, decoder_only=True)
    with pytest.raises(ValueError, match="has no chat template"):
        encode_sources(plain, SOURCES, chat_template=True)
    for rewrite in ("upper", "replace('cat', 'dog')"):  # the marker rewritten, then only the source
        plain.chat_template = (
            "{% for message in messages %}{{ message['content'] | " + rewrite + " }}{% endfor %}"
        )
        with pytest.raises(ValueError, match="changes the user message"):
            encode_sources(plain, ["The cat sat."], chat_template=True)


def reference_saliency(model, tokenizer, source: str, target: str) -> tuple[list[int], np.ndarray]:
    """Saliency of the source text's tokens from the model's own loss on the one templated sequence."""
    prompt = templated_ids(tokenizer, source)
    target_ids = [*tokenizer(target, add_special_tokens=False).input_ids, tokenizer.eos_token_id]
    labels = torch.tensor([[-100] * len(prompt) + target_ids])
    embeddings = model.get_input_embeddings()(torch.tensor([prompt + target_ids])).detach().requires_grad_()
    (gradient,) = torch.autograd.grad(model(inputs_embeds=embeddings, labels=labels).loss, embeddings)
    positions, _ = text_positions(tokenizer, source)
    return [prompt[p] for p in positions], gradient[0, positions].norm(dim=-1).numpy()


def test_attribution_conditions_on_the_templated_prompt_and_scores_only_the_source(model, tokenizer):
    results = attribute(model, tokenizer, SOURCES, TARGETS, chat_template=True, batch_size=3)
    plain = attribute(model, tokenizer, SOURCES, TARGETS, batch_size=3)
    for result, without, source, target in zip(results, plain, SOURCES, TARGETS, strict=True):
        ids, expected = reference_saliency(model, tokenizer, source, target)
        assert result.token_ids == ids
        np.testing.assert_allclose(result.token_scores, expected, rtol=1e-4, atol=1e-6)
        assert not np.allclose(result.token_scores, without.token_scores[1:])  # the template changes them
        _, spans = text_positions(tokenizer, source)
        assert result.token_offsets == spans
        words = aggregate_word_scores(source, spans, expected)
        assert [(w.text, w.start, w.end) for w in result.words] == [
            (w.text, w.start, w.end) for w in split_words(source)
        ]
        np.testing.assert_allclose([w.score for w in result.words], [w.score for w in words], rtol=1e-4)


def test_rationale_words_come_only_from_the_source(model, tokenizer):
    """The top-k words are those of the source tokens' scores alone; a template token's score (its words
    "the" and "cat" are the source's too) reaching a word would change them."""
    sources = ["The cat sat on the mat while the dog slept.", "a man plays a guitar on stage."]
    targets = ["yes", "no"]
    for result, source, target in zip(
        attribute(model, tokenizer, sources, targets, chat_template=True), sources, targets, strict=True
    ):
        _, scores = reference_saliency(model, tokenizer, source, target)
        _, spans = text_positions(tokenizer, source)
        reference = [w for w in aggregate_word_scores(source, spans, scores) if not is_punctuation(w)]
        top = sorted(reference, key=lambda word: (-word.score, word.start))[:3]
        chosen = select_rationale(result.words, k=3)
        assert [(w.text, w.start) for w in chosen] == [
            (w.text, w.start) for w in sorted(top, key=lambda w: w.start)
        ]
        assert all(source[w.start : w.end] == w.text for w in result.words)
        assert not {w.text for w in result.words} & TEMPLATE_ONLY_WORDS


def greedy_after_template(model, tokenizer, source: str, max_new_tokens: int) -> str:
    prompt = torch.tensor([templated_ids(tokenizer, source)])
    with torch.no_grad():
        output = model.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    return tokenizer.decode(output[0, prompt.shape[1] :], skip_special_tokens=True)


def test_generation_and_training_rows_use_the_same_templated_prompt(model, tokenizer):
    expected = [greedy_after_template(model, tokenizer, source, 6) for source in SOURCES]
    explained = attribute(model, tokenizer, SOURCES, chat_template=True, max_new_tokens=6, batch_size=2)
    assert [result.target for result in explained] == expected
    predicted = evaluation.generate(model, tokenizer, SOURCES, max_new_tokens=6, chat_template=True)
    assert predicted == [text.strip() for text in expected]

    examples = ColourTask().load("validation")[:6]
    rationales = {example.id: "some words" for example in examples}
    rows = encode_examples(
        examples,
        tokenizer,
        MultiTaskCollator(tokenizer, model).family,
        max_input_length=128,
        max_target_length=16,
        prefix=PREDICT_PREFIX,
        rationales=rationales,
        chat_template=True,
    )
    for row, example in zip(rows, examples, strict=True):
        assert row["input_ids"] == templated_ids(tokenizer, PREDICT_PREFIX + example.source)
        assert row["explain_input_ids"] == templated_ids(tokenizer, "explain: " + example.source)
    batch = MultiTaskCollator(tokenizer, model)([rows[0]])
    prompt = templated_ids(tokenizer, PREDICT_PREFIX + examples[0].source)
    assert batch["input_ids"][0, : len(prompt)].tolist() == prompt  # the target follows the template


def spy_on_model_inputs(monkeypatch) -> dict[str, list[list[int]]]:
    """Record the source ids every generation and every attribution batch of a decoder-only model gets."""
    fed: dict[str, list[list[int]]] = {"generate": [], "collate": []}
    generate, collate = CausalFamily.generate, CausalFamily.collate

    def recording_generate(self, model, tokenizer, sources, **options):
        fed["generate"].extend(list(source) for source in sources)
        return generate(self, model, tokenizer, sources, **options)

    def recording_collate(self, sources, *args):
        fed["collate"].extend(list(source) for source in sources)
        return collate(self, sources, *args)

    monkeypatch.setattr(CausalFamily, "generate", recording_generate)
    monkeypatch.setattr(CausalFamily, "collate", recording_collate)
    return fed


@pytest.fixture(scope="module")
def chat_llama(tmp_path_factory) -> Path:
    """A tiny Llama folder whose saved tokenizer carries the template."""
    folder = build_tiny_for_task(
        ColourTask(), tmp_path_factory.mktemp("chat") / "tiny", vocab_size=300, architecture="llama"
    )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(folder)
    return folder


def test_a_teacher_trained_on_templated_prompts_is_evaluated_and_explained_on_them(
    chat_llama, tmp_path, monkeypatch
):
    task = ColourTask()
    seen = []
    original = DistillTrainer.compute_loss

    def recording(self, model, inputs, *args, **kwargs):
        if model.training:
            seen.extend(inputs["input_ids"].tolist())
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(DistillTrainer, "compute_loss", recording)
    config = quick_config(max_steps=4, eval_steps=4, batch_size=8, max_new_tokens=4, max_eval_examples=8)
    result = train_teacher(chat_llama, task, tmp_path / "teacher", config=config, chat_template=True)
    assert read_manifest(result.output_dir)["chat_template"] is True

    model, tokenizer = load_model_and_tokenizer(result.output_dir)
    assert tokenizer.chat_template == TEMPLATE
    prompts = [templated_ids(tokenizer, example.source) for example in task.load("train")]
    assert len(seen) == 4 * 8
    for row in seen:  # every training row is a templated prompt, then its target
        assert any(row[: len(prompt)] == prompt for prompt in prompts)

    validation = task.load("validation")[:6]
    prompts = {tuple(templated_ids(tokenizer, example.source)) for example in validation}
    fed = spy_on_model_inputs(monkeypatch)
    expected = [greedy_after_template(model, tokenizer, example.source, 8) for example in validation]
    evaluate_model(  # the option comes from the teacher's folder
        result.output_dir, task, "validation", tmp_path / "eval", max_new_tokens=8, max_examples=6
    )
    assert {tuple(source) for source in fed["generate"]} == prompts
    predictions = [json.loads(line)["prediction"] for line in (tmp_path / "eval/predictions.jsonl").open()]
    assert predictions == [text.strip() for text in expected]
    fed["generate"].clear()

    output = generate_rationales(
        result.output_dir,
        task,
        "validation",
        tmp_path / "r.jsonl",
        k=2,
        limit=6,
        max_new_tokens=8,
        show_progress=False,
    )
    assert {tuple(source) for source in fed["generate"]} == prompts  # the teacher's own predictions
    assert {tuple(source) for source in fed["collate"]} == prompts  # the attribution passes
    records = [json.loads(line) for line in output.open()]
    assert [record["target"] for record in records] == expected
    for record, example in zip(records, validation, strict=True):
        assert record["words"] and all(
            example.source[w["start"] : w["end"]] == w["text"] for w in record["words"]
        )
        assert not {w["text"] for w in record["words"]} & TEMPLATE_ONLY_WORDS


def experiment(tmp_path, teacher: dict | None = None, student: dict | None = None):
    data = {
        "output_dir": str(tmp_path / "run"),
        "task": {"name": "synthetic-nli", "options": {"size": 40, "validation_size": 8, "test_size": 8}},
        "teacher": {"model": "Qwen/Qwen2.5-0.5B-Instruct", **(teacher or {})},
        "students": {"models": [{"name": "small", "model": "Qwen/Qwen2.5-0.5B", **(student or {})}]},
    }
    return validate_config(data, base_dir=tmp_path)


def test_the_option_off_leaves_dumps_and_stage_fingerprints_as_they_were(tmp_path):
    """Runs made before the option existed stay up to date: its default is not part of any dump."""
    config, explicit = (
        experiment(tmp_path),
        experiment(tmp_path, {"chat_template": False}, {"chat_template": False}),
    )
    assert "chat_template" not in config.teacher.model_dump(mode="json")
    assert "chat_template" not in config.students.models[0].model_dump(mode="json")
    assert "chat_template" not in config_to_yaml(config)
    assert config_to_yaml(explicit) == config_to_yaml(config)
    assert plan_fingerprints(build_plan(explicit)) == plan_fingerprints(build_plan(config))


def test_the_option_on_reruns_exactly_the_stages_of_that_model(tmp_path):
    before = plan_fingerprints(build_plan(experiment(tmp_path)))
    teacher = experiment(tmp_path, {"chat_template": True})
    assert teacher.teacher.model_dump(mode="json")["chat_template"] is True
    assert "chat_template: true" in config_to_yaml(teacher)
    changed = {key for key, value in plan_fingerprints(build_plan(teacher)).items() if before[key] != value}
    assert {"teacher", "eval/teacher", "rationales/saliency-k5", "report"} <= changed
    assert not any(key.startswith(("students/small/standard", "students/small/random")) for key in changed)
    student = experiment(tmp_path, student={"chat_template": True})
    changed = {key for key, value in plan_fingerprints(build_plan(student)).items() if before[key] != value}
    assert "teacher" not in changed and "rationales/saliency-k5" not in changed
    assert {key for key in changed if key.startswith("students/")} == {
        key for key in before if key.startswith("students/")
    }


def test_tiny_models_cannot_ask_for_a_chat_template(tmp_path):
    data = {
        "output_dir": str(tmp_path / "run"),
        "task": {"name": "synthetic-nli"},
        "teacher": {"tiny": {"architecture": "llama"}, "chat_template": True},
        "students": {"models": [{"name": "s", "tiny": {}}]},
    }
    with pytest.raises(DataError, match=r"teacher\.chat_template.*no chat template"):
        validate_config(data, base_dir=tmp_path)


def test_stages_hand_each_model_its_option(tmp_path, monkeypatch):
    config = experiment(tmp_path, {"chat_template": True})
    calls = {}
    for name in ("train_teacher", "train_student", "generate_rationales"):
        monkeypatch.setattr(stages, name, lambda *args, _name=name, **kwargs: calls.setdefault(_name, kwargs))
    plan = {stage.key: stage for stage in build_plan(config)}
    stages.teacher_stage(StageContext(config, plan["teacher"], tmp_path))
    stages.rationales_stage(StageContext(config, plan["rationales/saliency-k5"], tmp_path))
    stages.student_stage(StageContext(config, plan["students/small/standard/seed0"], tmp_path))
    assert calls["train_teacher"]["chat_template"] is True
    assert calls["generate_rationales"]["chat_template"] is True
    assert calls["train_student"]["chat_template"] is False


@pytest.mark.parametrize(
    ("command", "function", "flags", "expected"),
    [
        ("train-teacher", "tokendistill.commands.train_teacher.train_teacher", [], False),
        ("train-teacher", "tokendistill.commands.train_teacher.train_teacher", ["--chat-template"], True),
        ("train-student", "tokendistill.commands.train_student.train_student", ["--chat-template"], True),
        ("evaluate", "tokendistill.commands.evaluate.evaluate_model", [], None),
        ("evaluate", "tokendistill.commands.evaluate.evaluate_model", ["--no-chat-template"], False),
        ("rationales", "tokendistill.commands.rationales.generate_rationales", [], None),
        ("rationales", "tokendistill.commands.rationales.generate_rationales", ["--chat-template"], True),
    ],
)
def test_command_line_flags(command, function, flags, expected, tmp_path, monkeypatch):
    """Trained models default to what their folder records (None); training defaults to off."""
    seen = {}

    def record(*args, **kwargs):
        seen.update(kwargs)
        raise SystemExit(0)

    monkeypatch.setattr(function, record)
    with pytest.raises(SystemExit):
        main([command, "--model", "m", "--task", "synthetic-nli", "--output", str(tmp_path / "o"), *flags])
    assert seen["chat_template"] is expected
