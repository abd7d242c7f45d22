"""Evaluating one SAE on one model at one hook: the core metrics (reconstruction, shrinkage, sparsity,
feature density, weight geometry and, spliced in, CE / KL).

The downstream half has two implementations that must agree: ``SpliceEngine`` (saeviz/evals/splice.py: the
clean run once, spliced runs from the hook's block) used everywhere, and ``naive_downstream`` here, the
paper's way (a clean and a spliced run from the embedding for every SAE), kept as the reference that
tests and the benchmark compare against.
"""

from __future__ import annotations

import torch

from saeviz.evals.metrics import ReconstructionStats, kl_divergence, weight_metrics
from saeviz.evals.splice import downstream_scores, splice_hook
from saeviz.model.activations import keep_positions, special_token_ids
from saeviz.sae.sparse import sparse_code, sparse_decode


@torch.inference_mode()
def reconstruction_stats(sae, x_ND: torch.Tensor, batch_tokens: int = 8192,
                         keep_x_hat: bool = False) -> dict[str, float] | tuple[dict[str, float], torch.Tensor]:
    """Reconstruction, shrinkage, sparsity and density metrics of an SAE on flat activations, in chunks;
    with ``keep_x_hat`` also the reconstructions [N, d] (so a splice need not run the SAE again)."""
    stats = ReconstructionStats(sae.cfg.d_sae)
    x_hats = []
    for chunk in x_ND.split(batch_tokens):
        x = chunk.to(sae.device, sae.dtype)
        code = sparse_code(sae, x)
        if code is not None:  # TopK: no dense [tokens, d_sae] code
            x_hat = sparse_decode(sae, *code)
            stats.update_sparse(x, x_hat, *code)
        else:
            f = sae.encode(x)
            x_hat = sae.decode(f)
            stats.update(x, x_hat, f)
        if keep_x_hat:  # on the SAE's device, where the splice reads them
            x_hats.append(x_hat.float())
    return (stats.result(), torch.cat(x_hats)) if keep_x_hat else stats.result()


@torch.no_grad()
def reconstruct(sae, x_ND: torch.Tensor, batch_tokens: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_hat [N, d], latents [N, d_sae]) for flat activations, in batches to bound memory."""
    x_hats, feats = [], []
    for chunk in x_ND.split(batch_tokens):
        f = sae.encode(chunk.to(sae.device, sae.dtype))
        x_hats.append(sae.decode(f).float().cpu())
        feats.append(f.float().cpu())
    return torch.cat(x_hats), torch.cat(feats)


def _token_ce(logits_BTV: torch.Tensor, tokens_BT: torch.Tensor) -> torch.Tensor:
    """[batch, pos-1] next-token cross-entropy."""
    logp = logits_BTV[:, :-1].log_softmax(-1)
    return -logp.gather(-1, tokens_BT[:, 1:, None]).squeeze(-1)


@torch.no_grad()
def naive_downstream(model, sae, hook_name: str, tokens_NT: torch.Tensor, batch_size: int = 16) -> dict[str, float]:
    """CE / KL with the SAE, without it and with zero ablation, recomputing everything from the embedding."""
    special = special_token_ids(model)
    sums = {"ce_clean": 0.0, "ce_sae": 0.0, "ce_zero": 0.0, "kl_sae": 0.0, "kl_zero": 0.0}
    count = 0
    for start in range(0, tokens_NT.shape[0], batch_size):
        tokens = tokens_NT[start:start + batch_size].to(model.cfg.device)
        keep = keep_positions(tokens, special)
        scored = keep[:, :-1] & keep[:, 1:]
        clean = model(tokens)
        spliced = model.run_with_hooks(tokens, fwd_hooks=[(hook_name, splice_hook(sae, keep))])
        zeroed = model.run_with_hooks(tokens, fwd_hooks=[(hook_name, splice_hook(None, keep))])
        for name, logits in (("clean", clean), ("sae", spliced), ("zero", zeroed)):
            sums[f"ce_{name}"] += float(_token_ce(logits, tokens)[scored].double().sum())
        sums["kl_sae"] += float(kl_divergence(clean[:, :-1], spliced[:, :-1])[scored].double().sum())
        sums["kl_zero"] += float(kl_divergence(clean[:, :-1], zeroed[:, :-1])[scored].double().sum())
        count += int(scored.sum())
    m = {k: v / count for k, v in sums.items()}
    return downstream_scores(m["ce_clean"], m["ce_sae"], m["ce_zero"], m["kl_sae"], m["kl_zero"])


def evaluate_sae(model, sae, hook_name: str, acts_ND: torch.Tensor, tokens_NT: torch.Tensor | None,
                 batch_size: int = 16) -> dict[str, float]:
    """The core metrics of one SAE at one hook: reconstruction on cached activations, weight geometry,
    and, when tokens are given, CE/KL spliced in the naive way (the reference path)."""
    metrics = reconstruction_stats(sae, acts_ND)
    metrics.update(weight_metrics(sae.W_enc, sae.W_dec))
    if tokens_NT is not None:
        metrics.update(naive_downstream(model, sae, hook_name, tokens_NT, batch_size))
    return metrics
