"""The guided tour of demo mode: each step explains one finding of the paper on the embedded default,
with its chart and the numbers behind the sentence, all from the shipped demo data (saeviz.store.demo).

A step's sentence is computed from the data it plots, so it stays true when the data is regenerated;
a step whose data is not shipped is left out rather than shown empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from saeviz.report import plots
from saeviz.report.paper_numbers import paper_wide
from saeviz.specs import CompressSpec
from saeviz.store import demo


@dataclass(frozen=True)
class TourStep:
    """One step: a title, what the paper says, what our model shows (computed), and the chart."""

    title: str
    paper: str
    finding: str
    figure: object
    data: pd.DataFrame


def _core(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[(rows["eval"] == "core") & (rows["item"].fillna("") == "")]


def _mean(rows: pd.DataFrame, **eq) -> float | None:
    for col, value in eq.items():
        rows = rows[(rows[col] - value).abs() < 1e-9] if isinstance(value, float) else rows[rows[col] == value]
    return float(rows["value"].mean()) if len(rows) else None


def step_compression(rows, cfg, main) -> TourStep | None:
    ce = rows[(rows["variant"] == "model") & (rows["metric"] == "ce_loss")].drop_duplicates("compression")
    if "dense" not in set(ce["compression"]) or len(ce) < 2:
        return None
    dense = float(ce.loc[ce["compression"] == "dense", "value"].iloc[0])
    ce = ce.assign(ce_loss=ce["value"]).sort_values("ce_loss")
    parts = [f"{r.compression} {r.ce_loss:.3f} ({(r.ce_loss - dense) / dense:+.1%})" for r in ce.itertuples() if r.compression != "dense"]
    return TourStep("1. Compression costs the model a little",
                    "GPT-2 and Gemma-2-2B are pruned with WANDA at 50%, and their SAEs studied on the pruned models.",
                    f"The dense model's eval cross-entropy is {dense:.3f} nats; compressed: " + "; ".join(parts) + ".",
                    plots.model_ce_figure(ce[["compression", "ce_loss"]]), ce[["compression", "ce_loss"]])


def step_transfer(rows, cfg, main) -> TourStep | None:
    core = _core(rows)
    data = core[(core["metric"] == "explained_variance") & (core["variant"].isin(["dense", "pretrained", "retrained"]))
                & (core["compression"].isin(["dense", main]))]
    if not {"dense", "pretrained"} <= set(data["variant"]):
        return None
    data = data.assign(compression=main)  # the dense reference drawn in the compressed model's panels
    d, p = _mean(data, variant="dense"), _mean(data, variant="pretrained")
    r = _mean(data, variant="retrained")
    tail = (f"; an SAE retrained on the compressed model ({cfg.retrain_tokens:,} tokens, against the pretrained SAE's 1.5 M) "
            f"reaches {r:.3f}") if r is not None else ""
    return TourStep("2. The pretrained SAE still reads the compressed model",
                    "SAEs trained on the original model interpret the pruned one, with a slight loss against an SAE trained on it.",
                    f"Explained variance, averaged over sites and layers: {d:.3f} on the dense model, {p:.3f} applied as is to "
                    f"{main}{tail}.", plots.layerwise_figure(data, "explained_variance",
                                                              title=f"Explained variance per layer: dense reference vs {main}"), data)


def step_pruning(rows, cfg, main) -> TourStep | None:
    core = _core(rows)
    site = "resid" if "resid" in set(core["site"]) else (sorted(core["site"].dropna()) or [None])[0]
    data = core[(core["site"] == site) & (core["compression"].isin(["dense", main]))]
    ev = data[data["metric"] == "explained_variance"]
    curves = [plots.pruned_curve(ev[ev["layer"] == layer]) for layer in ev["layer"].dropna().unique()]
    pruned = pd.concat(curves, ignore_index=True) if curves else ev.iloc[:0]
    if site is None or pruned["sae_sparsity"].nunique() < 3:
        return None
    at = {s: _mean(pruned, sae_sparsity=s) for s in sorted(pruned["sae_sparsity"].unique())}
    base = at[min(at)]
    steps = ", ".join(f"{s:.0%}: {v:.3f}" for s, v in at.items())
    cliff = next((s for s, v in at.items() if v < base - 0.1), None)
    fig = plots.sparsity_panel_figure(data, "explained_variance", site, title=f"{site}: explained variance vs SAE sparsity ({main})")
    return TourStep("3. Pruning the SAE itself costs little, up to a point",
                    "Pruning the pretrained SAE's own weights keeps its reconstruction close to its unpruned level; "
                    "GPT-2's SAEs stayed good up to about 90%.",
                    f"Explained variance at {site}, mean over layers, at each SAE sparsity: {steps}."
                    + (f" It falls more than 0.1 below the unpruned SAE from {cliff:.0%}: this small SAE (8x) has little redundancy."
                       if cliff is not None else ""), fig, data)


def step_figure1(rows, cfg, main) -> TourStep | None:
    core = _core(rows)
    data = core[core["compression"].isin(["dense", main]) & (core["metric"] == "ce_loss_with_sae")]
    units = [data[(data["site"] == s) & (data["layer"] == l)] for s, l in data[["site", "layer"]].drop_duplicates().values]
    pruned = pd.concat([plots.pruned_curve(u) for u in units], ignore_index=True) if units else data.iloc[:0]
    if pruned.empty:
        return None
    lo, hi = min(pruned["sae_sparsity"]), max(pruned["sae_sparsity"])
    a, b = _mean(pruned, sae_sparsity=float(lo)), _mean(pruned, sae_sparsity=float(hi))
    return TourStep("4. The paper's Figure 1, on our model",
                    "Figure 1 plots the reconstruction loss (the LM's cross-entropy with the SAE spliced in) against SAE sparsity, per site.",
                    f"Averaged over layers, the CE with the SAE spliced in goes from {a:.3f} nats at {lo:.0%} SAE sparsity to {b:.3f} at {hi:.0%}.",
                    plots.figure1(data), data)


def step_best(rows, cfg, main) -> TourStep | None:
    core = _core(rows)
    data = core[(core["compression"] == main) & (core["metric"].isin(["explained_variance", "ce_loss_score", "cossim"]))]
    data = data[data["variant"].isin(["pretrained", "pruned_best", "retrained"]) |
                ((data["variant"] == "pruned") & data["sae_sparsity"].isin([0.25, 0.5]))]
    if not {"pruned_best", "retrained"} <= set(data["variant"]):
        return None
    labels = [plots.variant_label(v, s) for v, s in zip(data["variant"], data["sae_sparsity"])]
    table = data.assign(label=labels).pivot_table(index="metric", columns="label", values="value").reset_index()
    order = [v for v in ("pretrained", "pruned25", "pruned50", "pruned_best", "retrained") if v in table]
    ev = table.set_index("metric").loc["explained_variance"] if "explained_variance" in set(table["metric"]) else None
    best_s = data.loc[data["variant"] == "pruned_best", "sae_sparsity"]
    finding = (f"Averaged over sites and layers, PrunedBest (at {best_s.mean():.0%} SAE sparsity on average) explains "
               f"{ev['pruned_best']:.3f} of the variance against {ev['retrained']:.3f} for the retrained SAE and "
               f"{ev['pretrained']:.3f} for the pretrained one. The retrained SAEs here saw {cfg.retrain_tokens:,} tokens "
               "(the pretrained ones 1.5 M).") if ev is not None else ""
    return TourStep("5. A pruned SAE against a retrained one",
                    "Pruning the pretrained SAE gives an SAE comparable to one trained from scratch on the pruned model, "
                    "at a fraction of the cost.", finding,
                    plots.grouped_bars_figure(table, "metric", order, "SAE variants on the compressed model (mean over units)"), table)


SECOND_ORDER_PAIRS = (("sparsegpt-50%", "wanda-50%"), ("sparsegpt-2:4", "wanda-2:4"), ("gptq-int4-g128-sym", "rtn-int4-g128-sym"))


def step_overlay(rows, cfg, main) -> TourStep | None:
    core = _core(rows)
    data = core[(core["variant"] == "pretrained") & (core["metric"] == "explained_variance")]
    if data["compression"].nunique() < 2:
        return None
    means = data.groupby("compression")["value"].mean().sort_values(ascending=False)
    pairs = [(a, b) for a, b in SECOND_ORDER_PAIRS if a in means and b in means]
    second = ("" if not pairs else " Second-order compression keeps the SAE closer than its first-order counterpart at the "
              "same sparsity or bits: " + "; ".join(f"{a} {means[a]:.3f} against {b} {means[b]:.3f}" for a, b in pairs) + ".")
    return TourStep("6. Other compressions",
                    "The paper's future work: quantized and other compressed models.",
                    "Pretrained SAE applied as is, mean explained variance: "
                    + "; ".join(f"{c} {v:.3f}" for c, v in means.items()) + "." + second,
                    plots.layerwise_figure(data.assign(label="pretrained"), "explained_variance",
                                           title="Pretrained SAE, explained variance per layer, by compression"), data)


def step_ravel(rows, cfg, main) -> TourStep | None:
    ravel = rows[(rows["eval"] == "ravel") & (rows["item"].fillna("") != "")]
    data = ravel[ravel["metric"] == "disentanglement"]
    if data.empty:
        return None
    cause, isolation = (float(ravel.loc[ravel["metric"] == m, "value"].mean()) for m in ("cause", "isolation"))
    labels = [plots.variant_label(v, s) for v, s in zip(data["variant"], data["sae_sparsity"])]
    table = data.assign(label=labels).pivot_table(index="item", columns="label", values="value").reset_index()
    order = [v for v in ("dense", "pretrained", "pruned25", "pruned50", "retrained") if v in table]
    means = "; ".join(f"{v} {table[v].mean():.3f}" for v in order)
    site = data["site"].iloc[0]
    paper = paper_wide("ravel", site)
    paper = paper[paper["metric"] == "disentanglement"]
    said = ("; the paper (Gemma-2-2B, layer 12, same site): " + "; ".join(
        f"{v} {paper[v].mean():.3f}" for v in ("pretrained", "pruned25", "pruned50", "retrained"))) if len(paper) else ""
    return TourStep("7. RAVEL: are attributes still disentangled?",
                    "RAVEL patches the latents of one attribute (a city's country) and checks that it changes and only it; "
                    "the paper finds pretrained and Pruned25 SAEs at least as disentangled as the retrained one.",
                    f"Mean disentanglement over entity-attribute pairs at {site} layer {int(data['layer'].iloc[0])}: {means}{said}. "
                    f"Here cause averages {cause:.3f} and isolation {isolation:.3f} over all variants: "
                    + ("interchanging the selected latents rarely changes the attribute this small model states, so the score "
                       "is about isolation / 2 for every SAE." if cause < 0.05 else "the variants differ in both."),
                    plots.grouped_bars_figure(table, "item", order, "RAVEL disentanglement per entity-attribute pair"), table)


STEPS: list[Callable] = [step_compression, step_transfer, step_pruning, step_figure1, step_best, step_overlay, step_ravel]


def tour_steps(root=None) -> list[TourStep]:
    """The steps the shipped data supports, in order."""
    cfg = demo.settings(root)
    rows = demo.frame("metrics", root)
    if cfg is None or rows.empty:
        return []
    main = CompressSpec.parse(cfg.compression).label()
    return [s for s in (step(rows, cfg, main) for step in STEPS) if s is not None]
