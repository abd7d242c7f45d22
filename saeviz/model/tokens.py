"""Token sets (calibration, evaluation, training) by source: the embedded default or a local folder."""

from __future__ import annotations

from pathlib import Path

import torch

from saeviz import embedded
from saeviz.errors import LoadError
from saeviz.model.load import check_safetensors
from saeviz.specs import EMBEDDED

SPLITS = ("calibration", "eval", "train")


def load_split(source: str, split: str) -> torch.Tensor:
    """[n_sequences, seq_len] int64 token ids of one split.

    source: 'embedded', or a folder holding {split}.safetensors files with an 'input_ids' tensor
    (tokenized with the model's own tokenizer; `python -m saeviz` writes such folders).
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown token split {split!r}: choose from {SPLITS}.")
    if source == EMBEDDED:
        if split == "train" and not hasattr(embedded, "load_train_tokens"):
            raise LoadError("The embedded default has no training split yet: rebuild it with `python -m saeviz build-embedded`.")
        tokens = embedded.load_train_tokens() if split == "train" else embedded.load_tokens(split)
        return tokens.long()
    path = Path(source).expanduser() / f"{split}.safetensors"
    if not path.is_file():
        raise LoadError(f"No {split} tokens at {path}: the token folder needs {', '.join(s + '.safetensors' for s in SPLITS)} "
                        "(each with an 'input_ids' [n_sequences, seq_len] tensor), or use 'embedded'.")
    # lazy: safetensors loads only when this runs, so importing saeviz.model.tokens stays light
    from safetensors.torch import load_file

    check_safetensors(path)  # a truncated file is named, not a stack trace from safetensors
    tensors = load_file(str(path))
    if "input_ids" not in tensors or tensors["input_ids"].dim() != 2:
        raise LoadError(f"{path} must hold a 2-D 'input_ids' tensor [n_sequences, seq_len].")
    return tensors["input_ids"].long()
