"""What compression did to each latent: matching latents between SAE variants and per-latent change.

Latents of SAEs that derive from one another (dense reference, pretrained, pruned, PrunedBest: the
same SAE, perhaps with weights removed) keep their index, so they pair by identity. A retrained SAE's
latents are new: they pair with the reference's by decoder cosine, as an assignment (Hungarian) or
as mutual best matches, and pairs below ``MatchSpec.min_cosine`` count as unmatched. On the same
tokens, a ``PairedAccumulator`` measures how each latent's activations moved (Pearson correlation,
density), and ``weight_removed`` how much of its encoder column and decoder row pruning removed.
Everything is indexed by the *variant's* latents (the ones a user browses); ``ref_latent`` names the
reference latent it is paired with (-1: none).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from saeviz.specs import MATCH_METHODS, RANKINGS, _help  # noqa: F401  (RANKINGS: the browser's orders)


@dataclass(frozen=True)
class MatchSpec:
    """How latents of two SAEs are paired by decoder direction."""

    method: str = _help("'hungarian' (a one-to-one assignment maximising total decoder cosine) or 'mutual' "
                        "(pairs that are each other's best match).", default="hungarian")
    min_cosine: float = _help("Pairs whose decoder cosine is below this count as unmatched.", default=0.5)

    def __post_init__(self):
        if self.method not in MATCH_METHODS:
            raise ValueError(f"MatchSpec.method={self.method!r}: choose from {MATCH_METHODS}.")
        if not -1 <= self.min_cosine <= 1:
            raise ValueError(f"min_cosine={self.min_cosine}: a cosine lies in [-1, 1] (0.5 is a usual threshold).")


def decoder_cosine(W_a_FD: torch.Tensor, W_b_GD: torch.Tensor) -> torch.Tensor:
    """[F, G] cosine between decoder rows; a zero row (a latent pruned away) has cosine 0 with everything."""
    return F.normalize(W_a_FD.float(), dim=1) @ F.normalize(W_b_GD.float(), dim=1).T


def match_latents(W_ref_FD: torch.Tensor, W_GD: torch.Tensor, spec: MatchSpec = MatchSpec()) -> tuple[torch.Tensor, torch.Tensor]:
    """For each latent j of the second SAE: (reference latent it pairs with or -1, [G] long; cosine of the pair, [G]).

    The cosine is reported for every paired latent, also those below min_cosine (which get -1).
    """
    cos_FG = decoder_cosine(W_ref_FD, W_GD)
    G = cos_FG.shape[1]
    ref_G = torch.full((G,), -1, dtype=torch.long)
    if spec.method == "hungarian":
        # lazy: scipy takes a second to import
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(cos_FG.double().numpy(), maximize=True)
        ref_G[torch.as_tensor(cols)] = torch.as_tensor(rows, dtype=torch.long)
    else:
        best_ref_G = cos_FG.argmax(dim=0)
        best_of_ref_F = cos_FG.argmax(dim=1)
        mutual = best_of_ref_F[best_ref_G] == torch.arange(G)
        ref_G = torch.where(mutual, best_ref_G, -1)
    cos_G = torch.where(ref_G >= 0, cos_FG[ref_G.clamp(min=0), torch.arange(G)], float("nan"))
    ref_G = torch.where(cos_G >= spec.min_cosine, ref_G, -1)
    return ref_G, cos_G


def identity_pairs(W_ref_FD: torch.Tensor, W_FD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Same-index pairing of an SAE with a derived one, and each latent's decoder cosine to its former self."""
    a, b = W_ref_FD.float(), W_FD.float()
    cos = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-12)
    return torch.arange(a.shape[0]), cos


class PairedAccumulator:
    """Running sums for the Pearson correlation between each latent j and its reference latent ref_G[j],
    over the same tokens, plus both latents' firing counts."""

    def __init__(self, ref_G: torch.Tensor, d_ref: int):
        G = len(ref_G)
        self.ref_G, self.d_ref = ref_G, d_ref
        self.n = 0
        self.sums = {name: torch.zeros(G, dtype=torch.float64) for name in ("a", "b", "aa", "bb", "ab")}
        self.fires_ref_F = torch.zeros(d_ref, dtype=torch.long)
        self.fires_G = torch.zeros(G, dtype=torch.long)

    @torch.no_grad()
    def update(self, acts_ref_NF: torch.Tensor, acts_NG: torch.Tensor) -> None:
        """One chunk of kept token positions: [N, F] reference activations and [N, G] the variant's, same tokens."""
        a = acts_ref_NF.double()[:, self.ref_G.clamp(min=0)]
        b = acts_NG.double()
        self.n += b.shape[0]
        for name, value in (("a", a), ("b", b), ("aa", a * a), ("bb", b * b), ("ab", a * b)):
            self.sums[name] += value.sum(0)
        self.fires_ref_F += (acts_ref_NF > 0).sum(0)
        self.fires_G += (acts_NG > 0).sum(0)

    def correlation(self) -> torch.Tensor:
        """[G] Pearson correlation with the paired reference latent; NaN without a partner or where either is constant."""
        s, n = self.sums, max(self.n, 1)
        cov = s["ab"] / n - s["a"] * s["b"] / n**2
        var_a, var_b = s["aa"] / n - (s["a"] / n) ** 2, s["bb"] / n - (s["b"] / n) ** 2
        ok = (var_a > 1e-12) & (var_b > 1e-12) & (self.ref_G >= 0)
        return torch.where(ok, cov / (var_a * var_b).clamp(min=1e-24).sqrt(), float("nan")).float()


def weight_removed(W_ref: torch.Tensor, W: torch.Tensor, latent_dim: int) -> torch.Tensor:
    """Per latent: share of its non-zero reference weights that are zero in W (W_enc: latent_dim=1, W_dec: 0)."""
    had = W_ref != 0
    lost = had & (W == 0)
    other = 1 - latent_dim
    return (lost.sum(other) / had.sum(other).clamp(min=1)).float()


def changes_frame(ref_G: torch.Tensor, cos_G: torch.Tensor, acc: PairedAccumulator, n_tokens: int,
                  enc_removed_G: torch.Tensor | None = None, dec_removed_G: torch.Tensor | None = None) -> pd.DataFrame:
    """One row per latent of the variant: its partner in the reference and how it changed."""
    G = len(ref_G)
    density = (acc.fires_G / max(n_tokens, 1)).numpy()
    density_ref_F = acc.fires_ref_F / max(n_tokens, 1)
    density_ref = torch.where(ref_G >= 0, density_ref_F[ref_G.clamp(min=0)], float("nan")).numpy()
    nan = np.full(G, np.nan, dtype=np.float32)
    return pd.DataFrame({
        "latent": np.arange(G), "ref_latent": ref_G.numpy(), "cosine": cos_G.numpy(), "corr": acc.correlation().numpy(),
        "density_ref": density_ref, "density": density, "density_change": density - density_ref,
        "dead_after": (ref_G.numpy() >= 0) & (density_ref > 0) & (density == 0),
        # WANDA can remove a rarely firing latent's whole decoder row: it still fires but writes nothing
        "decoder_gone": np.zeros(G, dtype=bool) if dec_removed_G is None else (dec_removed_G >= 1).numpy(),
        "enc_removed": nan if enc_removed_G is None else enc_removed_G.numpy(),
        "dec_removed": nan if dec_removed_G is None else dec_removed_G.numpy(),
    })


def unmatched_reference(changes: pd.DataFrame, d_ref: int) -> np.ndarray:
    """Reference latents that no latent of the variant pairs with (e.g. pretrained latents lost by retraining)."""
    return np.setdiff1d(np.arange(d_ref), changes["ref_latent"].to_numpy())


def rank_latents(changes: pd.DataFrame, by: str, top: int = 20) -> pd.DataFrame:
    """The variant's latents a user should look at first.

    most_changed: alive in both, lowest activation correlation with the reference; dead: alive in the
    reference and silent after; unmatched: no partner first (by density), then the lowest decoder cosine;
    density: densest first.
    """
    if by not in RANKINGS:
        raise ValueError(f"Unknown ranking {by!r}: choose from {RANKINGS}.")
    if by == "most_changed":
        alive = changes[(changes["density"] > 0) & (changes["density_ref"] > 0) & changes["corr"].notna()]
        out = alive.sort_values(["corr", "latent"])
    elif by == "dead":
        out = changes[changes["dead_after"]].sort_values(["density_ref", "latent"], ascending=[False, True])
    elif by == "unmatched":
        key = changes.assign(_paired=changes["ref_latent"] >= 0, _cos=changes["cosine"].fillna(-2.0))
        out = key.sort_values(["_paired", "_cos", "density", "latent"], ascending=[True, True, False, True]).drop(columns=["_paired", "_cos"])
    else:
        out = changes.sort_values(["density", "latent"], ascending=[False, True])
    return out.head(top).reset_index(drop=True)
