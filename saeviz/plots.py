"""DataFrame -> plotly Figure builders, shared by the pages and by export."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

SITE_ORDER = ["attn", "mlp", "resid"]
SITE_LABELS = {"attn": "attention (hook_z)", "mlp": "MLP out", "resid": "residual post"}


def sae_coverage_figure(saes: pd.DataFrame, n_layers: int) -> go.Figure:
    """Layers x sites grid: which SAEs are loaded there (cell text: architecture and d_sae)."""
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
            z=z, x=[f"layer {i}" for i in range(n_layers)], y=[SITE_LABELS[s] for s in SITE_ORDER],
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


def sweep_curves_figure(rows: pd.DataFrame, metric: str = "mse", title: str | None = None) -> go.Figure:
    """One panel per site: the metric of the pruned SAE vs SAE sparsity, one line per layer, with the
    pretrained (dashed), retrained (dash-dot) and dense-reference (dotted) levels of each layer."""
    from plotly.subplots import make_subplots

    rows = rows[(rows["metric"] == metric) & rows["site"].notna()]
    sites = [s for s in SITE_ORDER if s in set(rows["site"])]
    fig = make_subplots(rows=1, cols=max(1, len(sites)), subplot_titles=[SITE_LABELS[s] for s in sites], shared_yaxes=False)
    layers = sorted(int(v) for v in rows["layer"].dropna().unique())
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
    for col, site in enumerate(sites, start=1):
        for i, layer in enumerate(layers):
            unit = rows[(rows["site"] == site) & (rows["layer"] == layer)]
            pruned = unit[unit["variant"] == "pruned"].sort_values("sae_sparsity")
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
