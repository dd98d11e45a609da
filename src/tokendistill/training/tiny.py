"""Small seq2seq models built from a config, with a subword tokenizer trained on the task's own text.

No pretrained T5 can be downloaded on an offline machine, so tests, the demo and local benchmarks build
their models here. The result is saved with ``save_pretrained`` and loads by path like any Hub model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForSeq2SeqLM,
    BartConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    T5Config,
)

Architecture = Literal["t5", "bart"]

# T5's special-token layout: pad=0 (also the decoder start), eos=1, unk=2.
SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")

SIZES: dict[str, dict[str, int]] = {
    "tiny": {"d_model": 64, "d_ff": 128, "num_layers": 2, "num_heads": 4},
    "small": {"d_model": 128, "d_ff": 512, "num_layers": 3, "num_heads": 4},
    "base": {"d_model": 256, "d_ff": 1024, "num_layers": 4, "num_heads": 4},
}


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 2000, model_max_length: int = 512
) -> PreTrainedTokenizerFast:
    """Train a subword tokenizer with T5's conventions (metaspace word marks, ``</s>`` appended) on ``texts``.

    BPE, not T5's unigram: the unigram trainer seeds its pieces from substrings repeated across *distinct*
    words, so on a small vocabulary (the synthetic tasks) frequent words such as "is" never become pieces
    and end up spelt letter by letter. Punctuation is split off so "blue." and "blue" share a token.
    """
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
            pre_tokenizers.Punctuation(behavior="isolated"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    eos_id = tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=model_max_length,
    )


def build_model(
    tokenizer: PreTrainedTokenizerFast,
    architecture: Architecture = "t5",
    size: str = "tiny",
    seed: int = 0,
    **overrides: int | float,
) -> PreTrainedModel:
    """A randomly initialised seq2seq model sized by ``SIZES[size]`` (``overrides`` change single fields)."""
    import torch

    shape = {**SIZES[size], **overrides}
    vocab_size = len(tokenizer)
    ids = {
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "decoder_start_token_id": tokenizer.pad_token_id,
    }
    if architecture == "t5":
        config = T5Config(
            vocab_size=vocab_size,
            d_model=shape["d_model"],
            d_ff=shape["d_ff"],
            d_kv=shape["d_model"] // shape["num_heads"],
            num_layers=shape["num_layers"],
            num_heads=shape["num_heads"],
            dropout_rate=float(shape.get("dropout_rate", 0.0)),
            feed_forward_proj="gated-gelu",  # as Flan-T5; smooth, so integrated gradients converge
            tie_word_embeddings=True,
            **ids,
        )
    elif architecture == "bart":
        config = BartConfig(
            vocab_size=vocab_size,
            d_model=shape["d_model"],
            encoder_layers=shape["num_layers"],
            decoder_layers=shape["num_layers"],
            encoder_attention_heads=shape["num_heads"],
            decoder_attention_heads=shape["num_heads"],
            encoder_ffn_dim=shape["d_ff"],
            decoder_ffn_dim=shape["d_ff"],
            max_position_embeddings=1024,
            dropout=float(shape.get("dropout_rate", 0.0)),
            bos_token_id=tokenizer.pad_token_id,
            forced_eos_token_id=None,
            **ids,
        )
    else:
        raise ValueError(f"unknown architecture {architecture!r}; use 't5' or 'bart'")
    torch.manual_seed(seed)
    return AutoModelForSeq2SeqLM.from_config(config)


def build_and_save(
    texts: Iterable[str],
    output_dir: str | Path,
    architecture: Architecture = "t5",
    size: str = "tiny",
    vocab_size: int = 2000,
    seed: int = 0,
) -> Path:
    """Train a tokenizer on ``texts``, build a model for it and save both to ``output_dir``."""
    output_dir = Path(output_dir)
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    model = build_model(tokenizer, architecture=architecture, size=size, seed=seed)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir
