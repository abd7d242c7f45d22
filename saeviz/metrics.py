"""SAE quality metrics as pure functions of activations, reconstructions and latents.

x_ND, x_hat_ND: [tokens, d] activations and reconstructions; f_NF: [tokens, d_sae] latent activations.
"""

from __future__ import annotations

import torch


def mse(x_ND: torch.Tensor, x_hat_ND: torch.Tensor) -> float:
    """Mean squared error per element (the paper's reconstruction loss)."""
    return float(((x_ND - x_hat_ND) ** 2).mean())


def explained_variance(x_ND: torch.Tensor, x_hat_ND: torch.Tensor) -> float:
    """1 - FVU: 1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 over all tokens."""
    residual = ((x_ND - x_hat_ND) ** 2).sum()
    total = ((x_ND - x_ND.mean(0, keepdim=True)) ** 2).sum()
    return float(1 - residual / total)


def cosine_similarity(x_ND: torch.Tensor, x_hat_ND: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(x_ND, x_hat_ND, dim=-1).mean())


def l0(f_NF: torch.Tensor) -> float:
    """Mean number of active latents per token."""
    return float((f_NF != 0).sum(-1).float().mean())


def l1(f_NF: torch.Tensor) -> float:
    return float(f_NF.abs().sum(-1).mean())


def dead_fraction(f_NF: torch.Tensor) -> float:
    """Fraction of latents that never fire on these tokens."""
    return float(((f_NF != 0).sum(0) == 0).float().mean())


def reconstruction_metrics(x_ND: torch.Tensor, x_hat_ND: torch.Tensor, f_NF: torch.Tensor) -> dict[str, float]:
    return {
        "mse": mse(x_ND, x_hat_ND),
        "explained_variance": explained_variance(x_ND, x_hat_ND),
        "cosine": cosine_similarity(x_ND, x_hat_ND),
        "l0": l0(f_NF),
        "l1": l1(f_NF),
        "dead_fraction": dead_fraction(f_NF),
    }


def ce_loss_score(ce_clean: float, ce_sae: float, ce_zero: float) -> float:
    """(CE with zero-ablation - CE with SAE) / (CE zero-ablation - CE clean): 1 = SAE loses nothing."""
    return (ce_zero - ce_sae) / (ce_zero - ce_clean) if ce_zero != ce_clean else float("nan")


def kl_divergence(clean_logits_BTV: torch.Tensor, patched_logits_BTV: torch.Tensor) -> torch.Tensor:
    """KL(clean || patched) per position, [batch, pos]."""
    log_p = clean_logits_BTV.log_softmax(-1)
    log_q = patched_logits_BTV.log_softmax(-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)
