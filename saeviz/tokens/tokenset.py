"""Reading a token set: its splits, its manifest, and the check that it was made by the model's tokenizer."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

from saeviz import embedded
from saeviz.embedded.recipe import train_rows
from saeviz.errors import CompatibilityError, LoadError
from saeviz.model.load import check_safetensors
from saeviz.specs import EMBEDDED
from saeviz.tokens.fingerprint import TokenizerFingerprint, fingerprint

SPLITS = ("calibration", "eval", "train")
MANIFEST = "tokens.json"
BUILD_HINT = "build one with `python -m saeviz tokens --model MODEL --out DIR` (see the README, The paper's setting)"


@functools.lru_cache(maxsize=1)
def _embedded_manifest() -> dict:
    return {"tokenizer": fingerprint(embedded.load_tokenizer()).to_dict(), "key": EMBEDDED,
            "source": {"kind": "embedded", "description": "the embedded default's toy-world and prose corpus"}}


def manifest(source: str) -> dict:
    """The manifest of a token set: tokenizer fingerprint, text source, context length, splits, key."""
    if source == EMBEDDED:
        return _embedded_manifest()
    path = Path(source).expanduser()
    if not path.is_dir():
        raise LoadError(f"Token set {source!r} is neither 'embedded' nor a folder: {BUILD_HINT}.")
    file = path / MANIFEST
    if not file.is_file():
        raise LoadError(f"{path} has no {MANIFEST}, so nothing says which tokenizer made its token ids: {BUILD_HINT}.")
    try:
        data = json.loads(file.read_text())
        TokenizerFingerprint.from_dict(data["tokenizer"])
    except (ValueError, KeyError, TypeError):
        raise LoadError(f"{file} is not a saeviz token-set manifest (it needs 'tokenizer' and 'key'): {BUILD_HINT}.") from None
    return data


def token_set_key(source: str) -> str:
    """What cache keys use for a token set: 'embedded', or its content's key (so a moved folder keeps its
    results and a rebuilt one does not); a source without a manifest is keyed by its name."""
    if source == EMBEDDED:
        return EMBEDDED
    file = Path(source).expanduser() / MANIFEST
    return str(manifest(source)["key"]) if file.is_file() else source


def check_tokenizer(source: str, model_tokenizer: TokenizerFingerprint, model_label: str) -> None:
    """Refuse a token set made by another tokenizer than the model's: its ids would be other words."""
    made_by = TokenizerFingerprint.from_dict(manifest(source)["tokenizer"])
    if not made_by.matches(model_tokenizer):
        raise CompatibilityError(
            f"Token set {source!r} was made by tokenizer {made_by.describe()}, but model {model_label!r} uses "
            f"{model_tokenizer.describe()}: build a token set for this model with `python -m saeviz tokens "
            f"--model {model_label} --out DIR` and pass it as --tokens DIR (the sidebar's Token sets).")


def load_split(source: str, split: str) -> torch.Tensor:
    """[n_sequences, seq_len] int64 token ids of one split of 'embedded' or a token-set folder."""
    if split not in SPLITS:
        raise ValueError(f"Unknown token split {split!r}: choose from {SPLITS}.")
    if source == EMBEDDED:
        tokens = train_rows() if split == "train" else embedded.load_tokens(split)  # train: rebuilt from the corpus
        return tokens.long()
    manifest(source)
    path = Path(source).expanduser() / f"{split}.safetensors"
    if not path.is_file():
        raise LoadError(f"No {split} tokens at {path}: the token set was built without that split; rebuild it "
                        f"with `python -m saeviz tokens` (its --{split} size above 0).")
    # lazy: safetensors loads only when this runs, so importing saeviz.tokens stays light
    from safetensors.torch import load_file

    check_safetensors(path)  # a truncated file is named, not a stack trace from safetensors
    tensors = load_file(str(path))
    if "input_ids" not in tensors or tensors["input_ids"].dim() != 2:
        raise LoadError(f"{path} must hold a 2-D 'input_ids' tensor [n_sequences, seq_len].")
    return tensors["input_ids"].long()
