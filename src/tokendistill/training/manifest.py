"""``tokendistill.json``: what a trained model's folder records about how it was trained.

Its main job is the input prompt: a multi-task student expects ``predict: `` before the input, a teacher
or a standard student expects none, and a model trained with ``chat_template`` expects its input as a user
message in its tokenizer's chat template; ``tokendistill evaluate`` and ``tokendistill rationales`` read both
from here so nobody has to remember them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokendistill.data.errors import DataError
from tokendistill.files import write_atomically

MANIFEST_NAME = "tokendistill.json"


def write_manifest(model_dir: str | Path, info: dict[str, Any]) -> Path:
    """Write ``info`` (must hold ``prefix``) as the folder's manifest."""
    if "prefix" not in info:
        raise ValueError("a model manifest must record the input prefix")
    path = Path(model_dir) / MANIFEST_NAME
    write_atomically(path, (json.dumps(info, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return path


def read_manifest(model_dir: str | Path) -> dict[str, Any] | None:
    """The folder's manifest, or ``None`` when it has none (any Hub model or plain checkpoint)."""
    path = Path(model_dir) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(path, error.lineno, None, f"not valid JSON: {error.msg}") from error
    if not isinstance(info, dict) or not isinstance(info.get("prefix"), str):
        raise DataError(path, None, "prefix", "missing or not a string")
    return info


def input_prefix(model_dir: str | Path) -> str:
    """The prefix the model in ``model_dir`` was trained with; none for a model without a manifest."""
    info = read_manifest(model_dir)
    return "" if info is None else info["prefix"]


def uses_chat_template(model_dir: str | Path) -> bool:
    """Whether the model in ``model_dir`` was trained on chat-template prompts; no for a model without a
    manifest (or with one written before the option existed)."""
    info = read_manifest(model_dir)
    if info is None:
        return False
    value = info.get("chat_template", False)
    if not isinstance(value, bool):
        raise DataError(Path(model_dir) / MANIFEST_NAME, None, "chat_template", "not true or false")
    return value
