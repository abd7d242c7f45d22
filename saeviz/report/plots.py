"""DataFrame -> plotly Figure builders, shared by the pages and by export."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from saeviz.sae.variants import variant_label

SITE_ORDER = ["attn", "mlp", "resid"]
SITE_LABELS = {"attn": "attention (hook_z)", "mlp": "MLP out", "resid": "residual post"}
# what a site is called when its SAEs read another hook than the site's default (gpt2-small-res-jb: resid_pre)
HOOK_LABELS = {"hook_z": "attention (hook_z)", "hook_attn_out": "attention out", "hook_mlp_out": "MLP out",
               "hook_post": "MLP neurons (hook_post)", "hook_resid_pre": "residual pre", "hook_resid_mid": "residual mid",
               "hook_resid_post": "residual post"}


def site_label(site: str, hook: str | None = None) -> str:
    """'residual post', or the name of the hook the site's SAEs really read ('residual pre')."""
    leaf = hook.rsplit(".", 1)[-1] if hook else None
    return HOOK_LABELS.get(leaf, leaf) if leaf else SITE_LABELS.get(site, site)


def _label(site: str, labels: dict[str, str] | None) -> str:
    return (labels or {}).get(site) or SITE_LABELS.get(site, site)


def sae_coverage_figure(saes: pd.DataFrame, n_layers: int) -> go.Figure:
    """Layers x sites grid: which SAEs are loaded there (cell text: architecture and d_sae)."""
    hooks = {site: hook for site, hook in zip(saes["site"], saes["hook"])} if len(saes) and "hook" in saes else {}
    z, text = [], []
    for site in SITE_ORDER:
        row_z, row_t = [], []
        for layer in range(n_layers):
            hit = saes[(saes["site"] == site) & (saes["layer"] == layer)] if len(saes) else saes
            row_z.append(float(hit["d_sae"].iloc[0]) if len(hit) else None)
            row_t.append(f"{hit['architecture'].iloc[0]}<br>{int(hit['d_sae'].iloc[0]):,}" if len(hit) else "no SAE")
        z.append(row_z)
        text.append(row_t)
    fig = go.Figure(
        go.Heatmap(
            z=z, x=[f"layer {i}" for i in range(n_layers)], y=[site_label(s, hooks.get(s)) for s in SITE_ORDER],
            text=text, texttemplate="%{text}", colorscale="Blues", showscale=False, xgap=3, ygap=3,
            hovertemplate="%{y}, %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_layout(title="SAEs loaded per layer and site (architecture, width)", height=260,
                      margin=dict(l=10, r=10, t=40, b=10), yaxis=dict(autorange="reversed"))
    return fig


VARIANT_STYLE = {
    "dense": dict(color="#7f7f7f", dash="dot", label="pretrained SAE on the dense model"),
    "pretrained": dict(color="#1f77b4", dash="dash", label="pretrained SAE, applied directly"),
    "retrained": dict(color="#d62728", dash="dashdot", label="SAE retrained on the compressed model"),
}
METRIC_LABELS = {
    "mse": "reconstruction MSE", "explained_variance": "explained variance", "cossim": "cosine similarity",
    "l0": "L0 (active latents per token)", "l1": "L1 (latent activation per token)",
    "ce_loss_score": "CE-loss score", "ce_loss_with_sae": "CE with the SAE spliced in (nats)",
    "ce_loss_without_sae": "CE without the SAE (nats)", "ce_loss_with_ablation": "CE with zero ablation (nats)",
    "kl_div_score": "KL-divergence score", "kl_div_with_sae": "KL divergence with the SAE (nats)",
    "kl_div_with_ablation": "KL divergence with zero ablation (nats)",
    "l2_norm_in": "mean L2 norm in", "l2_norm_out": "mean L2 norm out", "l2_ratio": "L2 ratio (out / in)",
    "relative_reconstruction_bias": "relative reconstruction bias", "frac_alive": "alive latents (fraction)",
    "dead_fraction": "dead latents (fraction)", "freq_over_1_percent": "latents firing on > 1% of tokens",
    "freq_over_10_percent": "latents firing on > 10% of tokens",
    "normalized_freq_over_1_percent": "share of firings by latents over 1%",
    "normalized_freq_over_10_percent": "share of firings by latents over 10%",
    "average_max_encoder_cosine_sim": "mean max encoder cosine", "average_max_decoder_cosine_sim": "mean max decoder cosine",
}


def pruned_curve(unit: pd.DataFrame) -> pd.DataFrame:
    """A unit's pruned points by sparsity, with the pretrained SAE as the 0% point when no pruned-0% row is
    there (they are one run: an SAE pruned at 0% is the pretrained SAE, cached once under its first label)."""
    pruned = unit[unit["variant"] == "pruned"]
    pre = unit[unit["variant"] == "pretrained"]
    if len(pre) and not (pruned["sae_sparsity"] == 0).any():
        pruned = pd.concat([pruned, pre.iloc[:1].assign(variant="pruned", sae_sparsity=0.0)], ignore_index=True)
    return pruned.drop_duplicates("sae_sparsity").sort_values("sae_sparsity")


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def sweep_curves_figure(rows: pd.DataFrame, metric: str = "mse", title: str | None = None,
                        labels: dict[str, str] | None = None) -> go.Figure:
    """One panel per site: the metric of the pruned SAE vs SAE sparsity, one line per layer, with the
    pretrained (dashed), retrained (dash-dot) and dense-reference (dotted) levels of each layer."""
    # lazy: plotly.subplots is only needed by this figure
    from plotly.subplots import make_subplots

    rows = rows[(rows["metric"] == metric) & rows["site"].notna()]
    sites = [s for s in SITE_ORDER if s in set(rows["site"])]
    fig = make_subplots(rows=1, cols=max(1, len(sites)), subplot_titles=[_label(s, labels) for s in sites], shared_yaxes=False)
    layers = sorted(int(v) for v in rows["layer"].dropna().unique())
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
    for col, site in enumerate(sites, start=1):
        for i, layer in enumerate(layers):
            unit = rows[(rows["site"] == site) & (rows["layer"] == layer)]
            pruned = pruned_curve(unit)
            color = palette[i % len(palette)]
            fig.add_trace(go.Scatter(x=pruned["sae_sparsity"] * 100, y=pruned["value"], mode="lines+markers",
                                     name=f"layer {layer} pruned", legendgroup=f"L{layer}", showlegend=col == 1,
                                     line=dict(color=color)), row=1, col=col)
            for variant, style in VARIANT_STYLE.items():
                level = unit[unit["variant"] == variant]["value"]
                if len(level):
                    fig.add_trace(go.Scatter(x=[0, 100], y=[level.iloc[0]] * 2, mode="lines", name=f"layer {layer} {variant}",
                                             legendgroup=f"L{layer}", showlegend=False, hovertext=style["label"],
                                             line=dict(color=color, dash=style["dash"], width=1)), row=1, col=col)
            best = unit[unit["variant"] == "pruned_best"]
            if len(best):
                fig.add_trace(go.Scatter(x=best["sae_sparsity"] * 100, y=best["value"], mode="markers", showlegend=False,
                                         marker=dict(symbol="star", size=13, color=color, line=dict(width=1, color="black")),
                                         name=f"layer {layer} PrunedBest"), row=1, col=col)
        fig.update_xaxes(title_text="SAE sparsity (%)", row=1, col=col)
    fig.update_yaxes(title_text=METRIC_LABELS.get(metric, metric), row=1, col=1)
    fig.update_layout(title=title or f"{METRIC_LABELS.get(metric, metric)} vs SAE sparsity "
                      "(dashed: pretrained as is, dash-dot: retrained, dotted: dense reference, star: PrunedBest)",
                      height=420, margin=dict(l=10, r=10, t=70, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


def model_ce_figure(ce: pd.DataFrame) -> go.Figure:
    """Bar chart of eval CE loss per model variant (columns: compression, ce_loss)."""
    fig = go.Figure(go.Bar(x=ce["compression"], y=ce["ce_loss"], text=ce["ce_loss"].round(3), textposition="outside",
                           marker_color=["#7f7f7f" if c == "dense" else "#1f77b4" for c in ce["compression"]]))
    low, high = float(ce["ce_loss"].min()), float(ce["ce_loss"].max())
    pad = max(high - low, 0.05)
    fig.update_layout(title="Eval cross-entropy of each model variant (nats, lower is better)", height=360,
                      yaxis_title="CE loss (nats)", margin=dict(l=10, r=10, t=50, b=10),
                      yaxis_range=[low - pad, high + 0.5 * pad])  # the differences, not the distance from 0
    return fig


def compress_stats_figure(stats: pd.DataFrame, value: str = "sparsity") -> go.Figure:
    """Layers x matrices heatmap of what compression did: achieved sparsity or quantization error."""
    grid = stats.pivot(index="layer", columns="matrix", values=value)
    grid = grid[[m for m in ("W_Q", "W_K", "W_V", "W_O", "W_in", "W_out") if m in grid.columns]]
    text = grid.map(lambda v: f"{v:.1%}" if value == "sparsity" else f"{v:.2e}")
    fig = go.Figure(go.Heatmap(z=grid.values, x=list(grid.columns), y=[f"layer {i}" for i in grid.index],
                               text=text.values, texttemplate="%{text}", colorscale="Reds", showscale=False,
                               xgap=2, ygap=2, hovertemplate="%{y} %{x}: %{text}<extra></extra>"))
    label = "Achieved sparsity per matrix (exact)" if value == "sparsity" else "Mean |w - q(w)| per matrix"
    fig.update_layout(title=label, height=80 + 45 * len(grid), margin=dict(l=10, r=10, t=40, b=10),
                      yaxis=dict(autorange="reversed"))
    return fig


# --- the dashboard's figures ----------------------------------------------------------------------
LAYER_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
VARIANT_COLORS = {"dense": "#7f7f7f", "pretrained": "#1f77b4", "pruned25": "#2ca02c", "pruned50": "#ff7f0e",
                  "pruned_best": "#9467bd", "retrained": "#d62728"}
COMPRESSION_DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
COMPRESSION_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "star"]


def variant_color(label: str, index: int = 0) -> str:
    return VARIANT_COLORS.get(label, LAYER_PALETTE[index % len(LAYER_PALETTE)])


def sparsity_panel_figure(rows: pd.DataFrame, metric: str, site: str, markers: dict[int, float] | None = None,
                          title: str | None = None) -> go.Figure:
    """One site: the pruned SAE's metric vs SAE sparsity, one line per layer, with that layer's pretrained
    (dashed), retrained (dash-dot) and dense-reference (dotted) levels, PrunedBest (star) and, for
    ``markers`` {layer: sparsity}, a ringed marker at the point a slider chose (its value in the hover)."""
    rows = rows[(rows["metric"] == metric) & (rows["site"] == site)]
    layers = sorted(int(v) for v in rows["layer"].dropna().unique())
    fig = go.Figure()
    for i, layer in enumerate(layers):
        unit, color = rows[rows["layer"] == layer], LAYER_PALETTE[i % len(LAYER_PALETTE)]
        pruned = pruned_curve(unit)
        fig.add_trace(go.Scatter(x=pruned["sae_sparsity"] * 100, y=pruned["value"], mode="lines+markers", name=f"layer {layer}",
                                 legendgroup=f"L{layer}", line=dict(color=color), marker=dict(size=6),
                                 hovertemplate=f"layer {layer}, pruned %{{x:.0f}}%: %{{y:.4g}}<extra></extra>"))
        for variant, style in VARIANT_STYLE.items():
            level = unit[unit["variant"] == variant]["value"]
            if len(level):
                fig.add_trace(go.Scatter(x=[0, 100], y=[level.iloc[0]] * 2, mode="lines", name=f"layer {layer} {variant}",
                                         legendgroup=f"L{layer}", showlegend=False, line=dict(color=color, dash=style["dash"], width=1),
                                         hovertemplate=f"layer {layer}, {style['label']}: %{{y:.4g}}<extra></extra>"))
        best = unit[unit["variant"] == "pruned_best"]
        if len(best):
            fig.add_trace(go.Scatter(x=best["sae_sparsity"] * 100, y=best["value"], mode="markers", name=f"layer {layer} PrunedBest",
                                     legendgroup=f"L{layer}", showlegend=False,
                                     marker=dict(symbol="star", size=14, color=color, line=dict(width=1, color="black")),
                                     hovertemplate=f"layer {layer} PrunedBest %{{x:.0f}}%: %{{y:.4g}}<extra></extra>"))
    fig.update_layout(title=title or f"{SITE_LABELS.get(site, site)}: {metric_label(metric)} vs SAE sparsity",
                      xaxis_title="SAE sparsity (%)", yaxis_title=metric_label(metric), height=430,
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.18),
                      xaxis=dict(range=[-2, 102]))
    fig.add_annotation(text="dashed: pretrained as is · dash-dot: retrained · dotted: dense reference · star: PrunedBest · ring: slider",
                       xref="paper", yref="paper", x=0, y=1.0, yanchor="bottom", showarrow=False, font=dict(size=11, color="#555"))
    return place_markers(fig, rows, markers or {})


def place_markers(fig: go.Figure, rows: pd.DataFrame, markers: dict[int, float]) -> go.Figure:
    """Put (or move) each layer's ring at its slider's sparsity, in place: a slider move changes one trace,
    not the figure (rows: the metric's rows of the panel's site, as given to sparsity_panel_figure)."""
    colors = {t.name: t.line.color for t in fig.data if t.name and t.name.startswith("layer ") and t.name.count(" ") == 1}
    for layer, at in markers.items():
        curve = pruned_curve(rows[rows["layer"] == layer])
        hit = curve[(curve["sae_sparsity"] - at).abs() < 1e-9]
        x, y = ([at * 100], [float(hit["value"].iloc[0])]) if len(hit) else ([], [])
        name = f"layer {layer} slider"
        ring = next((t for t in fig.data if t.name == name), None)
        if ring is not None:
            ring.update(x=x, y=y)
            continue
        color = colors.get(f"layer {layer}", "#000")
        fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name=name, legendgroup=f"L{layer}", showlegend=False,
                                 marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(width=3, color=color)),
                                 hovertemplate=f"layer {layer}, slider at %{{x:.0f}}%: %{{y:.4g}}<extra></extra>"))
    return fig


def figure1(rows: pd.DataFrame, labels: dict[str, str] | None = None) -> go.Figure:
    """The paper's Figure 1 layout: one panel per site, the LM's CE with the SAE spliced in vs SAE sparsity."""
    return sweep_curves_figure(rows, "ce_loss_with_sae", title="Figure 1 layout: reconstruction loss (the LM's CE with the SAE "
                               "spliced in, nats) vs SAE sparsity; dashed: pretrained, dash-dot: retrained, dotted: dense, star: PrunedBest",
                               labels=labels)


def layerwise_figure(rows: pd.DataFrame, metric: str, title: str | None = None, n_layers: int | None = None,
                     labels: dict[str, str] | None = None) -> go.Figure:
    """Metric vs layer, one panel per site (the paper's appendix layout): one colour per SAE variant,
    one dash and marker per compression, so several compressions overlay; rows of compression 'dense'
    (the reference, the same for every compression) are drawn once. Rows carry a 'label' column
    (variant label) or variant + sae_sparsity."""
    # lazy: plotly.subplots is only needed by this figure
    from plotly.subplots import make_subplots

    rows = rows[(rows["metric"] == metric) & rows["site"].notna()].copy()
    if "label" not in rows:
        rows["label"] = [variant_label(v, s) for v, s in zip(rows["variant"], rows["sae_sparsity"])]
    sites = [s for s in SITE_ORDER if s in set(rows["site"])]
    fig = make_subplots(rows=1, cols=max(1, len(sites)), subplot_titles=[_label(s, labels) for s in sites])
    compressions = list(dict.fromkeys(c for c in rows["compression"] if c != "dense"))
    labels = list(dict.fromkeys(rows["label"]))
    seen: set[str] = set()
    for col, site in enumerate(sites, start=1):
        for comp in ["dense", *compressions]:
            ci = compressions.index(comp) if comp in compressions else 0  # the dense reference: one solid line
            for li, label in enumerate(labels):
                line = rows[(rows["site"] == site) & (rows["compression"] == comp) & (rows["label"] == label)].sort_values("layer")
                if line.empty:
                    continue
                name = label if len(compressions) <= 1 or comp == "dense" else f"{label} · {comp}"
                fig.add_trace(go.Scatter(
                    x=line["layer"], y=line["value"], mode="lines+markers", name=name, legendgroup=name, showlegend=name not in seen,
                    line=dict(color=variant_color(label, li), dash=COMPRESSION_DASHES[ci % len(COMPRESSION_DASHES)]),
                    marker=dict(symbol=COMPRESSION_SYMBOLS[ci % len(COMPRESSION_SYMBOLS)], size=8),
                    hovertemplate=f"{name}, layer %{{x}}: %{{y:.4g}}<extra></extra>"), row=1, col=col)
                seen.add(name)
        fig.update_xaxes(title_text="layer", dtick=1, row=1, col=col,
                         range=[-0.3, n_layers - 0.7] if n_layers else None)  # every layer on the axis, cached or not
    fig.update_yaxes(title_text=metric_label(metric), row=1, col=1)
    fig.update_layout(title=title or f"{metric_label(metric)} per layer", height=420, margin=dict(l=10, r=10, t=70, b=10),
                      legend=dict(orientation="h", y=-0.22))
    return fig


def grouped_bars_figure(table: pd.DataFrame, x: str, variants: list[str], title: str, y_title: str = "",
                        best: dict[str, str] | None = None) -> go.Figure:
    """Grouped bars: one group per value of column ``x`` (a metric, a RAVEL pair, an SCR threshold),
    one bar per variant column; ``best`` {x value: variant} outlines the best bar of each group."""
    fig = go.Figure()
    for i, variant in enumerate(variants):
        if variant not in table:
            continue
        outline = [2.5 if (best or {}).get(g) == variant else 0 for g in table[x]]
        fig.add_trace(go.Bar(x=table[x].astype(str), y=table[variant], name=variant, marker_color=variant_color(variant, i),
                             marker_line=dict(width=outline, color="black"),
                             hovertemplate=f"{variant}, %{{x}}: %{{y:.4g}}<extra></extra>"))
    fig.update_layout(title=title, barmode="group", height=400, yaxis_title=y_title, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=-0.2))
    return fig
