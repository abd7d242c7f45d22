"""Collecting activations at a hook, by hook name, in batches, with attention heads flattened."""

from __future__ import annotations

from typing import Iterator

import torch

from saeviz.jobs import Progress, report
from saeviz.model.hooks import flat_heads, layer_of


def special_token_ids(model) -> list[int]:
    tok = getattr(model, "tokenizer", None)
    return sorted(set(tok.all_special_ids)) if tok is not None else []


def keep_positions(tokens_BT: torch.Tensor, special_ids: list[int]) -> torch.Tensor:
    """Bool [batch, pos]: positions whose token is not BOS/EOS/PAD (their activations are outliers)."""
    if not special_ids:
        return torch.ones_like(tokens_BT, dtype=torch.bool)
    return ~torch.isin(tokens_BT, torch.tensor(special_ids, device=tokens_BT.device))


@torch.no_grad()
def hook_activations(model, hook_name: str, tokens_BT: torch.Tensor) -> torch.Tensor:
    """[batch, pos, d] activations at a hook (hook_z flattened to n_heads * d_head); stops after its layer."""
    layer = layer_of(hook_name)
    stop = None if layer is None else min(layer + 1, model.cfg.n_layers)
    _, cache = model.run_with_cache(tokens_BT.to(model.cfg.device), names_filter=[hook_name], stop_at_layer=stop)
    acts = cache[hook_name]
    return flat_heads(acts)


@torch.no_grad()
def collect_activations_multi(model, hook_names: list[str], tokens_NT: torch.Tensor, batch_size: int = 32,
                              dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """{hook: [n_tokens, d]} for several hooks from one pass per batch (special positions dropped), on the CPU."""
    layers = [layer_of(h) for h in hook_names]
    stop = None if None in layers else min(max(layers) + 1, model.cfg.n_layers)
    special = special_token_ids(model)
    chunks: dict[str, list[torch.Tensor]] = {h: [] for h in hook_names}
    for start in range(0, tokens_NT.shape[0], batch_size):
        tokens = tokens_NT[start:start + batch_size].to(model.cfg.device)
        _, cache = model.run_with_cache(tokens, names_filter=list(hook_names), stop_at_layer=stop)
        keep = keep_positions(tokens, special)
        for h in hook_names:
            acts = flat_heads(cache[h])
            chunks[h].append(acts[keep].to("cpu", dtype))
    return {h: torch.cat(c) for h, c in chunks.items()}


def activation_batches(model, hook_name: str, tokens_NT: torch.Tensor, batch_size: int = 32,
                       drop_special: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (tokens [b, T], kept activations [n_kept, d]) for consecutive batches of sequences."""
    special = special_token_ids(model) if drop_special else []
    for start in range(0, tokens_NT.shape[0], batch_size):
        tokens = tokens_NT[start : start + batch_size]
        acts = hook_activations(model, hook_name, tokens)
        yield tokens, acts[keep_positions(tokens, special).to(acts.device)]


def collect_activations(model, hook_name: str, tokens_NT: torch.Tensor, batch_size: int = 32,
                        progress: Progress | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[n_tokens, d] activations over all (non-special) positions, on the CPU."""
    chunks, total = [], tokens_NT.shape[0]
    for i, (_, acts) in enumerate(activation_batches(model, hook_name, tokens_NT, batch_size)):
        chunks.append(acts.to("cpu", dtype))
        report(progress, min((i + 1) * batch_size, total), total, hook_name)
    return torch.cat(chunks)
