"""Evaluating one SAE on one model at one hook: reconstruction metrics and, spliced in, CE/KL."""

from __future__ import annotations

import torch

from saeviz.activations import keep_positions, special_token_ids
from saeviz.metrics import ce_loss_score, kl_divergence, reconstruction_metrics


@torch.no_grad()
def reconstruct(sae, x_ND: torch.Tensor, batch_tokens: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_hat [N, d], latents [N, d_sae]) for flat activations, in batches to bound memory."""
    x_hats, feats = [], []
    for chunk in x_ND.split(batch_tokens):
        f = sae.encode(chunk.to(sae.device, sae.dtype))
        x_hats.append(sae.decode(f).float().cpu())
        feats.append(f.float().cpu())
    return torch.cat(x_hats), torch.cat(feats)


def _splice_hook(sae, keep_BT: torch.Tensor | None):
    """Replace a hook's activation by the SAE reconstruction (zeros when sae is None) at non-special positions."""

    def hook(act, hook):
        flat = act.flatten(-2) if act.dim() == 4 else act
        if sae is None:
            new = torch.zeros_like(flat)
        else:
            new = sae.decode(sae.encode(flat.to(sae.dtype))).to(flat.dtype)
        if keep_BT is not None:
            new = torch.where(keep_BT[..., None].to(flat.device), new, flat)
        return new.reshape(act.shape)

    return hook


def _token_ce(logits_BTV: torch.Tensor, tokens_BT: torch.Tensor) -> torch.Tensor:
    """[batch, pos-1] next-token cross-entropy."""
    logp = logits_BTV[:, :-1].log_softmax(-1)
    return -logp.gather(-1, tokens_BT[:, 1:, None]).squeeze(-1)


def _batches(model, tokens_NT: torch.Tensor, batch_size: int):
    """(tokens, kept positions, scored positions) per batch; scored: a real token predicted from a real token."""
    special = special_token_ids(model)
    for start in range(0, tokens_NT.shape[0], batch_size):
        tokens = tokens_NT[start : start + batch_size].to(model.cfg.device)
        keep = keep_positions(tokens, special)
        yield tokens, keep, keep[:, :-1] & keep[:, 1:]


@torch.no_grad()
def zero_ablation_ce(model, hook_name: str, tokens_NT: torch.Tensor, batch_size: int = 16) -> float:
    """Mean CE with the hook's activation zeroed: the floor of the CE-loss score (same for every SAE)."""
    total, count = 0.0, 0
    for tokens, keep, scored in _batches(model, tokens_NT, batch_size):
        zeroed = model.run_with_hooks(tokens, fwd_hooks=[(hook_name, _splice_hook(None, keep))])
        total += float(_token_ce(zeroed, tokens)[scored].sum())
        count += int(scored.sum())
    return total / count


@torch.no_grad()
def downstream_metrics(model, sae, hook_name: str, tokens_NT: torch.Tensor, batch_size: int = 16,
                       ce_zero: float | None = None) -> dict[str, float]:
    """CE clean / with the SAE, KL(clean || SAE) over predicted positions, and the CE-loss score."""
    sums = {"ce_clean": 0.0, "ce_sae": 0.0, "kl_div": 0.0}
    count = 0
    for tokens, keep, scored in _batches(model, tokens_NT, batch_size):
        clean = model(tokens)
        spliced = model.run_with_hooks(tokens, fwd_hooks=[(hook_name, _splice_hook(sae, keep))])
        sums["ce_clean"] += float(_token_ce(clean, tokens)[scored].sum())
        sums["ce_sae"] += float(_token_ce(spliced, tokens)[scored].sum())
        sums["kl_div"] += float(kl_divergence(clean[:, :-1], spliced[:, :-1])[scored].sum())
        count += int(scored.sum())
    out = {k: v / count for k, v in sums.items()}
    out["ce_zero"] = zero_ablation_ce(model, hook_name, tokens_NT, batch_size) if ce_zero is None else ce_zero
    out["ce_loss_score"] = ce_loss_score(out["ce_clean"], out["ce_sae"], out["ce_zero"])
    return out


def evaluate_sae(model, sae, hook_name: str, acts_ND: torch.Tensor, tokens_NT: torch.Tensor | None,
                 batch_size: int = 16, ce_zero: float | None = None) -> dict[str, float]:
    """All metrics of one SAE at one hook: reconstruction on cached activations, downstream if tokens given."""
    x_hat, feats = reconstruct(sae, acts_ND)
    metrics = reconstruction_metrics(acts_ND.float(), x_hat, feats)
    if tokens_NT is not None:
        metrics.update(downstream_metrics(model, sae, hook_name, tokens_NT, batch_size, ce_zero))
    return metrics


