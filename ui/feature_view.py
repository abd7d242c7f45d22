"""Streamlit helpers of the feature browser: memoised cache reads and HTML for activation-shaded tokens."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from saeviz.pipeline import feature_jobs as fj
from saeviz.store.db import Store


class _Missing(Exception):
    """Raised inside the memoised reader so that 'not computed yet' is never memoised."""


_READERS = {"tables": fj.read_tables, "changes": fj.read_changes}


@st.cache_resource(show_spinner=False, max_entries=96)
def _read(root: str, kind: str, key: str):
    value = _READERS[kind](Store(Path(root)), key)
    if value is None:
        raise _Missing
    return value


def _cached(bench, kind: str, key: str):
    try:
        return _read(str(bench.store.root), kind, key)
    except _Missing:
        return None


def cached_tables(bench, key: str):
    """A variant's FeatureTables from the cache (read once per process), or None when not computed."""
    return _cached(bench, "tables", key)


def cached_changes(bench, key: str):
    """A variant's per-latent changes against its reference from the cache, or None when not computed."""
    return _cached(bench, "changes", key)


@st.cache_resource(show_spinner=False, max_entries=8)
def _vocabulary(root: str, model_key: str, _bench) -> list[str]:
    return fj.vocabulary(_bench)


def cached_vocabulary(bench) -> list[str]:
    return _vocabulary(str(bench.store.root), bench.model_key, bench)


def context_html(ctx: dict, scale: float) -> str:
    """One context: every token shaded by its activation (hover: value, sequence and position), the
    activating token underlined. Every token is escaped: tokens are arbitrary text."""
    spans = []
    for i, (tok, act) in enumerate(zip(ctx["tokens"], ctx["acts"])):
        alpha = min(act / scale, 1.0) if scale > 0 and act > 0 else 0.0
        title = html.escape(f"{act:.4f} at seq {ctx['seq']}, pos {ctx['first_pos'] + i}", quote=True)
        style = f"background: rgba(255, 120, 0, {alpha:.3f});" + (" border-bottom: 2px solid #222;" if i == ctx["center"] else "")
        spans.append(f'<span title="{title}" style="{style}">{html.escape(tok.replace(chr(10), "↵"))}</span>')
    head = f'<span style="color: #888">{ctx["act"]:.3f} · {ctx["seq"]}:{ctx["pos"]}</span>&nbsp;'
    return f'<div style="font-family: monospace; white-space: pre-wrap; margin: 1px 0">{head}{"".join(spans)}</div>'


def contexts_html(contexts: list[dict], scale: float) -> str:
    return "".join(context_html(c, scale) for c in contexts) or "<i>no activations</i>"


def histogram_figure(record: dict) -> go.Figure:
    edges, counts = record["histogram"]["edges"], record["histogram"]["counts"]
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    fig = go.Figure(go.Bar(x=centres, y=counts, width=(edges[1] - edges[0]) if len(edges) > 1 else None,
                           marker_color="#ff7800", hovertemplate="activation %{x:.3f}<br>%{y} tokens<extra></extra>"))
    fig.update_layout(height=220, margin=dict(l=10, r=10, t=30, b=10), title="Non-zero activations (log count)",
                      yaxis_type="log", xaxis_title="activation", bargap=0.05)
    return fig


def logit_frame(record: dict, side: str) -> pd.DataFrame:
    rows = record.get("logits", {}).get(side, [])
    return pd.DataFrame({"token": [repr(r["token"]) for r in rows], "effect": [r["value"] for r in rows]})
