"""The paper's claims, checked on our own numbers: pure functions of tidy metric rows.

Each check states its threshold, so a reader can disagree with it; each returns a ``Verdict`` saying
whether the claim holds on this model, with the numbers it rests on (and 'not measured' when a needed
evaluation is missing, rather than a guess).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

PRETRAINED, PRUNED25, PRUNED50, TRAINED = "pretrained", "pruned25", "pruned50", "retrained"
# below this cause-with-every-latent-interchanged, RAVEL cannot tell SAEs apart at a site
MIN_RAVEL_REACH = 0.10


@dataclass(frozen=True)
class Verdict:
    claim: str
    holds: bool | None  # None: not measured
    evidence: str


def value(rows: pd.DataFrame, eval_name: str, site: str, variant: str, metric: str, item: str = "") -> float | None:
    """One number from tidy rows whose 'column' holds the variant label (pruned25, ...)."""
    hit = rows[(rows["eval"] == eval_name) & (rows["site"] == site) & (rows["column"] == variant)
               & (rows["metric"] == metric) & (rows["item"] == item)]
    got = float(hit["value"].iloc[0]) if len(hit) else None
    return None if got is None or math.isnan(got) else got  # NaN: the evaluation could not measure it


def _missing(claim: str, what: str) -> Verdict:
    return Verdict(claim, None, f"not measured ({what} missing)")


def pruned_close_to_retrained(rows: pd.DataFrame, sites, tolerance: float = 0.10) -> Verdict:
    """Claim: pruned SAEs reach reconstruction comparable to retrained ones. Checked as: Pruned25's MSE
    is within ``tolerance`` (relative) of the retrained SAE's, at every site (BestRule's tolerance)."""
    claim = "Pruned SAEs reconstruct about as well as retrained ones (Pruned25 MSE within 10% of Trained)"
    parts, ok = [], True
    for site in sites:
        pruned, trained = value(rows, "core", site, PRUNED25, "mse"), value(rows, "core", site, TRAINED, "mse")
        if pruned is None or trained is None:
            return _missing(claim, f"core mse of pruned25/retrained at {site}")
        excess = pruned / trained - 1
        ok &= excess <= tolerance
        parts.append(f"{site}: {pruned:.4g} vs {trained:.4g} ({excess:+.1%})")
    return Verdict(claim, ok, "; ".join(parts))


def pruned25_near_pretrained(rows: pd.DataFrame, sites, max_drop: float = 0.05) -> Verdict:
    """Claim: Pruned25's cosine similarity and explained variance are within 2-5% of the pretrained SAE's.
    Checked as: the relative drop is at most ``max_drop`` for both metrics at every site."""
    claim = "Pruned25 stays within 2-5% of Pretrained on cosine similarity and explained variance"
    parts, ok = [], True
    for site in sites:
        for metric in ("cossim", "explained_variance"):
            pre, p25 = value(rows, "core", site, PRETRAINED, metric), value(rows, "core", site, PRUNED25, metric)
            if pre is None or p25 is None:
                return _missing(claim, f"core {metric} at {site}")
            drop = (pre - p25) / abs(pre)
            ok &= drop <= max_drop
            parts.append(f"{site} {metric}: {pre:.3f} -> {p25:.3f} ({-drop:+.1%})")
    return Verdict(claim, ok, "; ".join(parts))


def ravel_mlp_favours_pretrained(rows: pd.DataFrame, site: str = "mlp") -> Verdict:
    """Claim: for the MLP output, Pretrained and Pruned25 disentangle better than the retrained SAE on RAVEL.
    Checked on the mean disentanglement over entity-attribute pairs (item '')."""
    claim = "On RAVEL (MLP output), Pretrained and Pruned25 are ahead of the retrained SAE"
    got = {v: value(rows, "ravel", site, v, "disentanglement") for v in (PRETRAINED, PRUNED25, TRAINED)}
    if any(v is None for v in got.values()):
        return _missing(claim, f"RAVEL disentanglement at {site}")
    reach = rows[(rows["eval"] == "ravel") & (rows["site"] == site) & (rows["column"] == PRETRAINED)
                 & (rows["metric"] == "cause_all_latents")]["value"]
    if len(reach) and float(reach.mean()) < MIN_RAVEL_REACH:
        return Verdict(claim, None, f"inconclusive: interchanging every latent changes the attribute in only "
                                    f"{float(reach.mean()):.1%} of pairs here (the model moved it off the entity's token), so "
                                    "no SAE can score; " + ", ".join(f"{k} {v:.3f}" for k, v in got.items()))
    ok = got[PRETRAINED] > got[TRAINED] and got[PRUNED25] > got[TRAINED]
    return Verdict(claim, ok, ", ".join(f"{k} {v:.3f}" for k, v in got.items()))


def absorption_comparable(rows: pd.DataFrame, sites, tolerance: float = 0.10) -> Verdict:
    """Claim: absorption of Pretrained / Pruned25 / Pruned50 is comparable to the retrained SAE's. Checked as:
    the mean absorption fraction differs from the retrained SAE's by at most ``tolerance`` (absolute)."""
    claim = "Absorption of pretrained and pruned SAEs is comparable to the retrained SAE's (within 0.10)"
    parts, ok = [], True
    for site in sites:
        trained = value(rows, "absorption", site, TRAINED, "mean_absorption_fraction")
        if trained is None:
            probe = value(rows, "absorption", site, TRAINED, "probe_mean_f1")
            if probe is not None:
                return Verdict(claim, None, f"not measurable at {site}: the first-letter probe reaches F1 {probe:.3f} "
                                            "(sae_bench needs 0.6 on 20 letters), so the model has no first-letter features to absorb")
            return _missing(claim, f"absorption at {site}")
        for variant in (PRETRAINED, PRUNED25, PRUNED50):
            got = value(rows, "absorption", site, variant, "mean_absorption_fraction")
            if got is None:
                return _missing(claim, f"absorption of {variant} at {site}")
            ok &= abs(got - trained) <= tolerance
            parts.append(f"{site} {variant} {got:.3f}")
        parts.append(f"{site} retrained {trained:.3f}")
    return Verdict(claim, ok, "; ".join(parts))


def l0_mismatches(rows: pd.DataFrame, sites, factor: float = 2.0) -> list[str]:
    """Variants whose L0 differs from the pretrained SAE's by more than ``factor`` (comparisons not L0-matched)."""
    out = []
    for site in sites:
        ref = value(rows, "core", site, PRETRAINED, "l0")
        for variant in sorted(set(rows[(rows["site"] == site) & (rows["eval"] == "core")]["column"])):
            got = value(rows, "core", site, variant, "l0")
            if ref and got and not 1 / factor <= got / ref <= factor:
                out.append(f"{site} {variant}: L0 {got:.1f} vs pretrained {ref:.1f}")
    return out


def check_all(rows: pd.DataFrame, sites) -> list[Verdict]:
    return [pruned_close_to_retrained(rows, sites), pruned25_near_pretrained(rows, sites),
            ravel_mlp_favours_pretrained(rows), absorption_comparable(rows, [s for s in sites if s != "attn"] or sites)]
