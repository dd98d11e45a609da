"""Small models of either family built from a config, with a subword tokenizer trained on the task's text.

No pretrained model can be downloaded on an offline machine, so tests, the demo and local benchmarks build
their models here. The result is saved with ``save_pretrained`` and loads by path like any Hub model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    BartConfig,
    GPT2Config,
    LlamaConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    T5Config,
)

from tokendistill.models import family_of

Architecture = Literal["t5", "bart", "llama", "gpt2"]
ARCHITECTURES: tuple[str, ...] = ("t5", "bart", "llama", "gpt2")
DECODER_ONLY: tuple[str, ...] = ("llama", "gpt2")

# T5's special-token layout: pad=0 (also the decoder start), eos=1, unk=2; decoder-only tokenizers add bos=3.
SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")
BOS_TOKEN = "<s>"

SIZES: dict[str, dict[str, int]] = {
    "tiny": {"d_model": 64, "d_ff": 128, "num_layers": 2, "num_heads": 4},
    "small": {"d_model": 128, "d_ff": 512, "num_layers": 3, "num_heads": 4},
    "base": {"d_model": 256, "d_ff": 1024, "num_layers": 4, "num_heads": 4},
}


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 2000, model_max_length: int = 512, *, decoder_only: bool = False
) -> PreTrainedTokenizerFast:
    """Train a subword tokenizer with T5's conventions (metaspace word marks, ``</s>`` appended) on ``texts``.

    ``decoder_only`` follows Llama's instead: ``<s>`` prepended and nothing appended (a source is followed
    by its target in one sequence, which ends with ``</s>``), padded on the left for batched generation.

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
    special_tokens = [*SPECIAL_TOKENS, BOS_TOKEN] if decoder_only else list(SPECIAL_TOKENS)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    if decoder_only:
        bos_id = tokenizer.token_to_id(BOS_TOKEN)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A $B", special_tokens=[(BOS_TOKEN, bos_id)]
        )
    else:
        eos_id = tokenizer.token_to_id("</s>")
        tokenizer.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos_id)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        **({"bos_token": BOS_TOKEN, "padding_side": "left"} if decoder_only else {}),
        model_max_length=model_max_length,
    )


def build_model(
    tokenizer: PreTrainedTokenizerFast,
    architecture: Architecture = "t5",
    size: str = "tiny",
    seed: int = 0,
    **overrides: int | float,
) -> PreTrainedModel:
    """A randomly initialised model sized by ``SIZES[size]`` (``overrides`` change single fields)."""
    import torch

    torch.manual_seed(seed)
    config = model_config(tokenizer, architecture, {**SIZES[size], **overrides})
    return family_of(config).auto_class.from_config(config)


def model_config(
    tokenizer: PreTrainedTokenizerFast, architecture: Architecture, shape: dict[str, int | float]
) -> PretrainedConfig:
    """The config of ``architecture`` with ``shape``'s sizes and the tokenizer's vocabulary and ids."""
    vocab_size = len(tokenizer)
    dropout = float(shape.get("dropout_rate", 0.0))
    ids = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}
    seq2seq_ids = {**ids, "decoder_start_token_id": tokenizer.pad_token_id}
    decoder_only_ids = {**ids, "bos_token_id": tokenizer.bos_token_id}
    if architecture == "t5":
        config = T5Config(
            vocab_size=vocab_size,
            d_model=shape["d_model"],
            d_ff=shape["d_ff"],
            d_kv=shape["d_model"] // shape["num_heads"],
            num_layers=shape["num_layers"],
            num_heads=shape["num_heads"],
            dropout_rate=dropout,
            feed_forward_proj="gated-gelu",  # as Flan-T5; smooth, so integrated gradients converge
            tie_word_embeddings=True,
            **seq2seq_ids,
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
            dropout=dropout,
            bos_token_id=tokenizer.pad_token_id,
            forced_eos_token_id=None,
            **seq2seq_ids,
        )
    elif architecture == "llama":
        config = LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=shape["d_model"],
            intermediate_size=shape["d_ff"],
            num_hidden_layers=shape["num_layers"],
            num_attention_heads=shape["num_heads"],
            num_key_value_heads=shape["num_heads"],
            max_position_embeddings=1024,
            attention_dropout=dropout,
            # Untied, so a saved checkpoint holds every weight: the Trainer warns about a tied lm_head it
            # finds missing when it restores the best checkpoint (harmless, but noise in every run).
            tie_word_embeddings=False,
            **decoder_only_ids,
        )
    elif architecture == "gpt2":
        config = GPT2Config(
            vocab_size=vocab_size,
            n_embd=shape["d_model"],
            n_inner=shape["d_ff"],
            n_layer=shape["num_layers"],
            n_head=shape["num_heads"],
            n_positions=1024,
            resid_pdrop=dropout,
            embd_pdrop=dropout,
            attn_pdrop=dropout,
            tie_word_embeddings=False,  # as for Llama above
            **decoder_only_ids,
        )
    else:
        raise ValueError(f"unknown architecture {architecture!r}; use one of {', '.join(ARCHITECTURES)}")
    return config


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
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size, decoder_only=architecture in DECODER_ONLY)
    model = build_model(tokenizer, architecture=architecture, size=size, seed=seed)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir
