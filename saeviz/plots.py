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
