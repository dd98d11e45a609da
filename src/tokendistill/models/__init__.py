"""The model-family seam: encoder-decoder and decoder-only models behind one interface (``ModelFamily``).

The family is read from ``config.is_encoder_decoder``; everything above this package asks the family
instead of naming a model class.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from tokendistill.models.base import IGNORE_INDEX, Batch, ModelFamily, PaddingSide, pad
from tokendistill.models.causal import CausalFamily
from tokendistill.models.prompt import EncodedSource, encode_sources, source_ids
from tokendistill.models.seq2seq import Seq2SeqFamily

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def family_of(model_or_config: PreTrainedModel | PretrainedConfig) -> ModelFamily:
    """The family of a model (or its config): encoder-decoder or decoder-only."""
    config = getattr(model_or_config, "config", model_or_config)
    return Seq2SeqFamily() if config.is_encoder_decoder else CausalFamily()


def load_model_and_tokenizer(
    name_or_path: str | Path, *, dtype: str | None = None, device_map: str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A model of either family and its prepared tokenizer, from a Hub name or a local folder.

    ``dtype`` is a key of ``DTYPES`` (``None``: the checkpoint's default loading dtype, float32);
    ``device_map`` goes to ``from_pretrained`` (e.g. ``"auto"`` to spread a large model over GPUs).
    """
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    family = family_of(AutoConfig.from_pretrained(str(name_or_path)))
    tokenizer = family.prepare_tokenizer(AutoTokenizer.from_pretrained(str(name_or_path)))
    options = {} if dtype is None else {"dtype": DTYPES[dtype]}
    if device_map is not None:
        options["device_map"] = device_map
    model = family.auto_class.from_pretrained(str(name_or_path), **options)
    return model, tokenizer


__all__ = [
    "DTYPES",
    "IGNORE_INDEX",
    "Batch",
    "CausalFamily",
    "EncodedSource",
    "ModelFamily",
    "PaddingSide",
    "Seq2SeqFamily",
    "encode_sources",
    "family_of",
    "load_model_and_tokenizer",
    "pad",
    "source_ids",
]
