"""Token data for the embedded build: document splits, packing into BOS-led rows, safetensors I/O.

Every row is `[BOS] + 127 tokens` of a stream in which documents are separated by the same
`<|endoftext|>` token, so a row looks exactly like `model.to_tokens(text)` of a text window
(transformer_lens prepends BOS), and SAE metadata can say prepend_bos=True truthfully.
"""

import random
from dataclasses import dataclass
from pathlib import Path

import torch

SEQ_LEN = 128


@dataclass(frozen=True)
class ProseSplit:
    train: list[str]
    calibration: list[str]
    eval: list[str]


def split_prose(docs: list[str], seed: int, eval_frac: float = 0.05, calib_frac: float = 0.02) -> ProseSplit:
    """Disjoint document splits (by shuffled document index, so every source is represented)."""
    order = list(range(len(docs)))
    random.Random(f"{seed}-prose-split").shuffle(order)
    n_eval, n_cal = round(eval_frac * len(docs)), round(calib_frac * len(docs))
    pick = lambda idx: [docs[i] for i in sorted(idx)]  # noqa: E731 - keep source order inside a split
    return ProseSplit(train=pick(order[n_eval + n_cal:]), calibration=pick(order[n_eval:n_eval + n_cal]),
                      eval=pick(order[:n_eval]))


def pack(token_docs: list[list[int]], sep_id: int, seq_len: int = SEQ_LEN) -> torch.Tensor:
    """[n_rows, seq_len] int32: the documents joined by `sep_id`, cut into BOS-led rows.
    The last partial row is dropped."""
    stream = [t for doc in token_docs for t in (*doc, sep_id)]
    body = seq_len - 1
    n = len(stream) // body
    rows = torch.tensor(stream[: n * body], dtype=torch.int32).view(n, body)
    bos = torch.full((n, 1), sep_id, dtype=torch.int32)
    return torch.cat([bos, rows], dim=1)


def permutation(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def shuffled_rows(rows: torch.Tensor, seed: int) -> torch.Tensor:
    return rows[permutation(rows.shape[0], seed)]


def take_rows(rows: torch.Tensor, n: int, what: str) -> torch.Tensor:
    if rows.shape[0] < n:
        raise ValueError(f"{what}: need {n} rows of {SEQ_LEN} tokens, the text gives only {rows.shape[0]}")
    return rows[:n]


def save_tokens(rows: torch.Tensor, path: Path, meta: dict[str, str] | None = None,
                extra: dict[str, torch.Tensor] | None = None) -> None:
    # lazy: safetensors loads only when this runs, so importing saeviz.embedded.data stays light
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"input_ids": rows.to(torch.int32).contiguous(), **(extra or {})}
    save_file(tensors, str(path), metadata=meta or {})


def read_tokens(path: Path) -> torch.Tensor:
    # lazy: safetensors loads only when this runs, so importing saeviz.embedded.data stays light
    from safetensors.torch import load_file

    return load_file(str(path))["input_ids"]
