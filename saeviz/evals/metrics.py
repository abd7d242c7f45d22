"""SAE quality metrics as pure functions of activations, reconstructions and latents.

x_ND, x_hat_ND: [tokens, d] activations and reconstructions; f_NF: [tokens, d_sae] latent activations.
Names follow sae_bench's core eval (the paper's Table 1); definitions are the conventional ones, which
differ from sae_bench 0.6 in two places (see ``mse`` and ``explained_variance``).
"""

from __future__ import annotations

import torch

from saeviz.sae.sparse import latent_fire_counts


def mse(x_ND: torch.Tensor, x_hat_ND: torch.Tensor) -> float:
    """Mean squared error per element: sum ||x - x_hat||^2 / (N * d). (sae_bench 0.6 divides the per-token
    squared error by the number of tokens in its batch instead of by d, so its value scales with batch size.)"""
    return float(((x_ND - x_hat_ND) ** 2).mean())


def explained_variance(x_ND: torch.Tensor, x_hat_ND: torch.Tensor) -> float:
    """1 - FVU = 1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 over all tokens. (sae_bench 0.6 takes
    E||x||^2 - (mean_d E[x_d^2])^2 as the total variance instead of E||x||^2 - ||E x||^2.)"""
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


class ReconstructionStats:
    """Streaming sums over chunks of tokens, so an SAE of any width is measured in bounded memory.

    ``update(x, x_hat, f)`` per chunk, then ``result()``: the reconstruction, shrinkage, sparsity and
    feature-density metrics of sae_bench's core eval with conventional definitions:
    mse (per element), explained_variance (1 - FVU), cossim (mean over tokens), l2_norm_in / l2_norm_out
    (mean token norms), l2_ratio (mean of per-token ||x_hat|| / ||x||), relative_reconstruction_bias
    (E||x_hat||^2 / E<x, x_hat>, Eq. 10 of Rajamanoharan et al. 2024: 1 means no shrinkage), l0, l1,
    frac_alive / dead_fraction, freq_over_1_percent / freq_over_10_percent (fraction of latents firing on
    more than 1% / 10% of tokens) and their normalized versions (the share of all firings those latents
    account for).
    """

    _SUMS = ("sq_err", "x_sq", "cos", "norm_in", "norm_out", "ratio", "xhat_sq", "x_dot_xhat", "l0", "l1")

    def __init__(self, d_sae: int):
        self.n = 0
        self.d_sae = d_sae
        # float64 sums kept on the activations' device until result(): no host round trip per chunk
        self._sums_S: torch.Tensor | None = None
        self._fires_F: torch.Tensor | None = None
        self.x_sum_D: torch.Tensor | None = None

    @property
    def sums(self) -> dict[str, float]:
        values = [0.0] * len(self._SUMS) if self._sums_S is None else self._sums_S.tolist()
        return dict(zip(self._SUMS, values))

    @property
    def fires_F(self) -> torch.Tensor:
        return torch.zeros(self.d_sae, dtype=torch.float64) if self._fires_F is None else self._fires_F.cpu()

    def update(self, x_ND: torch.Tensor, x_hat_ND: torch.Tensor, f_NF: torch.Tensor) -> None:
        active = f_NF != 0
        self._update(x_ND, x_hat_ND, active.sum(0), f_NF.abs().sum(dtype=torch.float64))

    def update_sparse(self, x_ND: torch.Tensor, x_hat_ND: torch.Tensor, values_NK: torch.Tensor, indices_NK: torch.Tensor) -> None:
        """The same from a sparse code (k values and their latents per token, see saeviz.sae.sparse)."""
        self._update(x_ND, x_hat_ND, latent_fire_counts(values_NK, indices_NK, self.d_sae), values_NK.abs().sum(dtype=torch.float64))

    def _update(self, x_ND: torch.Tensor, x_hat_ND: torch.Tensor, fires_F: torch.Tensor, l1_sum: torch.Tensor) -> None:
        # elementwise work in the activations' dtype, every reduction accumulated in float64
        x, x_hat = x_ND.float(), x_hat_ND.float()
        f64 = torch.float64
        norm_in, norm_out = x.norm(dim=-1), x_hat.norm(dim=-1)
        dot = (x * x_hat).sum(-1, dtype=f64)
        sums = torch.stack([
            (x - x_hat).square().sum(dtype=f64), x.square().sum(dtype=f64),
            (dot / (norm_in.double() * norm_out.double()).clamp_min(1e-8)).sum(),
            norm_in.sum(dtype=f64), norm_out.sum(dtype=f64), (norm_out / norm_in.clamp_min(1e-4)).sum(dtype=f64),
            x_hat.square().sum(dtype=f64), dot.sum(), fires_F.sum(dtype=f64), l1_sum.to(f64),
        ])
        fires = fires_F.to(f64)
        x_sum = x.sum(0, dtype=f64)
        if self._sums_S is None:
            self._sums_S, self._fires_F, self.x_sum_D = sums, fires, x_sum
        else:
            self._sums_S, self._fires_F, self.x_sum_D = self._sums_S + sums, self._fires_F + fires, self.x_sum_D + x_sum
        self.n += x.shape[0]

    def result(self) -> dict[str, float]:
        if self.n == 0:
            raise ValueError("No activations were measured: the evaluation token set has no ordinary tokens.")
        s, n = self.sums, self.n
        d = self.x_sum_D.numel()
        total_var = s["x_sq"] - float((self.x_sum_D ** 2).sum()) / n  # sum ||x - mean||^2
        density_F = self.fires_F / n
        fired = float(density_F.sum())
        return {
            "mse": s["sq_err"] / (n * d),
            "explained_variance": 1 - s["sq_err"] / total_var if total_var > 0 else float("nan"),
            "cossim": s["cos"] / n,
            "l2_norm_in": s["norm_in"] / n, "l2_norm_out": s["norm_out"] / n, "l2_ratio": s["ratio"] / n,
            "relative_reconstruction_bias": s["xhat_sq"] / s["x_dot_xhat"] if s["x_dot_xhat"] else float("nan"),
            "l0": s["l0"] / n, "l1": s["l1"] / n,
            "frac_alive": float((density_F > 0).double().mean()),
            "dead_fraction": float((density_F == 0).double().mean()),
            "freq_over_1_percent": float((density_F > 0.01).double().mean()),
            "freq_over_10_percent": float((density_F > 0.1).double().mean()),
            "normalized_freq_over_1_percent": float(density_F[density_F > 0.01].sum()) / fired if fired else 0.0,
            "normalized_freq_over_10_percent": float(density_F[density_F > 0.1].sum()) / fired if fired else 0.0,
            "n_tokens": float(n),
        }


def max_cosine_to_others(vectors_FD: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """[F] for each row, its largest cosine similarity with any *other* row (rows of zeros give 0)."""
    unit = torch.nn.functional.normalize(vectors_FD.float(), dim=-1)
    out = torch.empty(unit.shape[0], dtype=torch.float32, device=unit.device)
    for start in range(0, unit.shape[0], chunk):
        sims = unit[start:start + chunk] @ unit.T
        rows = torch.arange(sims.shape[0], device=unit.device)
        sims[rows, rows + start] = float("-inf")
        out[start:start + chunk] = sims.max(-1).values
    return out


def weight_metrics(W_enc_DF: torch.Tensor, W_dec_FD: torch.Tensor) -> dict[str, float]:
    """Mean over latents of the max cosine similarity with any other latent's encoder / decoder direction."""
    return {
        "average_max_encoder_cosine_sim": float(max_cosine_to_others(W_enc_DF.T.detach()).mean()),
        "average_max_decoder_cosine_sim": float(max_cosine_to_others(W_dec_FD.detach()).mean()),
    }


def reconstruction_metrics(x_ND: torch.Tensor, x_hat_ND: torch.Tensor, f_NF: torch.Tensor) -> dict[str, float]:
    stats = ReconstructionStats(f_NF.shape[-1])
    stats.update(x_ND, x_hat_ND, f_NF)
    return stats.result()


def ce_loss_score(ce_clean: float, ce_sae: float, ce_zero: float) -> float:
    """(CE with zero-ablation - CE with SAE) / (CE zero-ablation - CE clean): 1 = SAE loses nothing."""
    return (ce_zero - ce_sae) / (ce_zero - ce_clean) if ce_zero != ce_clean else float("nan")


def kl_divergence(clean_logits_BTV: torch.Tensor, patched_logits_BTV: torch.Tensor) -> torch.Tensor:
    """KL(clean || patched) per position, [batch, pos]."""
    log_p = clean_logits_BTV.log_softmax(-1)
    log_q = patched_logits_BTV.log_softmax(-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)
