"""The sweep page's live part: one SAE-sparsity slider per layer moving a marker along that layer's curve,
the metric cards, the comparison with the other variants and the latents that died. It runs as a
fragment, so moving a slider reruns only this part; points between the swept ones are computed on
demand (and cached), everything else is read from the cache."""

from __future__ import annotations

import hashlib
import os
import sys
import time

import pandas as pd
import streamlit as st

from saeviz.errors import SaevizError
from saeviz.evals import get_evaluation
from saeviz.report.plots import metric_label, place_markers, sparsity_panel_figure
from saeviz.sae.variants import VariantSpec
from ui import icons
from ui.cached import bump_generation, d_sae_for, loaded_model, read_runs
from ui.cli_text import sweep_command
from ui.export_ui import show_figure
from ui.reads import grid_keys, value_at

FEATURES_PAGE = "views/features.py"


def higher_is_better(metric: str) -> bool | None:
    return get_evaluation("core").higher_is_better.get(metric)


def _fmt(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}g}"


def _delta(v: float | None, ref: float | None) -> str | None:
    return None if v is None or ref is None else f"{v - ref:+.4g}"


def unit_rows(bench, spec, site: str, layer: int, swept: pd.DataFrame) -> pd.DataFrame:
    """The swept rows of one (site, layer) plus every slider point already computed for it."""
    keys = grid_keys(bench, spec.compression, site, layer, spec.sae_prune_method, spec.eval)
    grid = read_runs(bench, list(keys))
    unit = swept[(swept["site"] == site) & (swept["layer"] == layer)]
    return pd.concat([unit, grid], ignore_index=True).drop_duplicates(["run_key", "item", "metric"])


def compute_point(bench, spec, site: str, layer: int, sparsity: float) -> None:
    """A pruned SAE between the swept points, evaluated now (the result is cached for every later visit)."""
    # lazy: saeviz.pipeline.runner pulls in torch, which importing ui.sweep_view does without
    from saeviz.pipeline.runner import evaluate

    loaded_model(bench)
    with st.spinner(f"Layer {layer}: pruning the SAE to {sparsity:.0%} and evaluating it..."):
        evaluate(bench, spec.compression, VariantSpec("pruned", sparsity, spec.sae_prune_method), site, layer, "core", spec.eval)
    bump_generation()


def open_latent(site: str, layer: int, compression: str, variant: str, latent: int = 0) -> None:
    """Open the feature browser on this variant (its URL parameters; its own state is reset to read them)."""
    st.session_state.pop("fb_site", None)
    st.switch_page(FEATURES_PAGE, query_params={"site": site, "layer": str(layer), "compression": compression,
                                               "variant": variant, "latent": str(latent)})


def _dead_line(bench, rows: pd.DataFrame, site: str, layer: int, sparsity: float) -> str:
    dead = value_at(rows, "dead_fraction", "pruned", sparsity)
    dead_ref = value_at(rows, "dead_fraction", "pretrained")
    if dead is None:
        return ""
    d_sae = d_sae_for(bench, site, layer)
    n, n_ref = round(dead * d_sae), (round(dead_ref * d_sae) if dead_ref is not None else None)
    if n_ref is None or n == n_ref:
        return f"dead latents: {n} of {d_sae}" + ("" if n_ref is None else ", as many as the pretrained SAE")
    return f"dead latents: {n} of {d_sae}, {abs(n - n_ref)} {'more' if n > n_ref else 'fewer'} than the pretrained SAE"


def _changes_line(bench, spec, site: str, layer: int, sparsity: float) -> str:
    """What the feature browser measured for this variant, when it has (its cached per-latent changes,
    read once per process: this runs on every slider move)."""
    # lazy: saeviz.pipeline.feature_jobs pulls in numpy, torch, which importing ui.sweep_view does without
    from saeviz.pipeline import feature_jobs as fj
    from ui.feature_view import cached_changes

    variant = VariantSpec("pruned", sparsity, spec.sae_prune_method)
    try:
        frame = cached_changes(bench, fj.changes_key(bench, spec.compression, site, layer, variant, fj.FeatureSpec(),
                                                     fj.MatchSpec()))
    except (SaevizError, ValueError):
        return ""
    if frame is None:
        return ""
    changed = int(((frame["corr"] < 0.9) & (frame["density"] > 0)).sum())
    return f"{int(frame['dead_after'].sum())} died, {changed} changed (activation corr < 0.9 with pretrained)"


def cards(bench, spec, site: str, layer: int, rows: pd.DataFrame, metric: str, sparsity: float, col) -> None:
    v = value_at(rows, metric, "pruned", sparsity)
    pre, ret, dense = (value_at(rows, metric, k) for k in ("pretrained", "retrained", "dense"))
    best = rows[(rows["variant"] == "pruned_best") & (rows["metric"] == metric)]
    good = higher_is_better(metric)
    col.metric(f"Layer {layer} · pruned {sparsity:.0%}", _fmt(v), delta=_delta(v, pre), help=f"{metric_label(metric)}; delta vs the "
               "pretrained SAE applied as is", delta_color="off" if good is None else ("normal" if good else "inverse"))
    parts = [f"pretrained {_fmt(pre)}"]
    if ret is not None:
        parts.append(f"retrained {_fmt(ret)} ({_delta(v, ret)})")
    if dense is not None:
        parts.append(f"dense {_fmt(dense)} ({_delta(v, dense)})")
    if len(best):
        parts.append(f"PrunedBest {best['sae_sparsity'].iloc[0]:.0%}: {_fmt(float(best['value'].iloc[0]))}")
    col.caption(" · ".join(parts))
    for line in (_dead_line(bench, rows, site, layer, sparsity), _changes_line(bench, spec, site, layer, sparsity)):
        if line:
            col.caption(line)
    label = VariantSpec("pruned", sparsity).label() if sparsity > 0 else "pretrained"  # pruned at 0% is the pretrained SAE
    if col.button("Open a latent", key=f"open_{site}_{layer}", icon=icons.FEATURES,
                  help=f"The feature browser on the {label} SAE of {site} layer {layer}"):
        open_latent(site, layer, spec.compression.label(), label)


def panel(data: pd.DataFrame, metric: str, site: str, markers: dict[int, float], title: str):
    """The site's figure, built once per data version and session; a slider move only moves its ring."""
    shown = data[(data["metric"] == metric) & (data["site"] == site)]
    sig = hashlib.sha1(pd.util.hash_pandas_object(shown[["run_key", "value"]], index=False).values.tobytes()).hexdigest()
    figs = st.session_state.setdefault("_sweep_figures", {})
    key = (site, metric, title, sig)
    if key not in figs:
        figs.clear()  # one site's figure per session is enough
        figs[key] = sparsity_panel_figure(shown, metric, site, title=title)
    return place_markers(figs[key], shown, markers)


@st.fragment
def explorer(bench, spec, site: str, layers: list[int], metric: str, swept: pd.DataFrame, start: dict[int, float]) -> None:
    """Sliders, chart and cards of one site; reruns alone when a slider moves."""
    started = time.perf_counter()
    cols = st.columns(len(layers))
    markers = {}
    for layer, col in zip(layers, cols):
        key = f"sw_slider_{site}_{layer}"
        st.session_state.setdefault(key, int(round(start.get(layer, 0.5) * 100)))
        markers[layer] = col.slider(f"Layer {layer} SAE sparsity (%)", 0, 99, step=1, key=key,
                                    help="Moves this layer's marker; a value between the swept points is computed on demand.") / 100
    frames = {}
    for layer in layers:
        rows = unit_rows(bench, spec, site, layer, swept)
        if value_at(rows, metric, "pruned", markers[layer]) is None:
            try:
                compute_point(bench, spec, site, layer, markers[layer])
            except (SaevizError, ValueError) as exc:
                st.error(str(exc))
                return
            rows = unit_rows(bench, spec, site, layer, swept)
        frames[layer] = rows
    data = pd.concat(frames.values(), ignore_index=True)
    title = f"{spec.compression.label()}, {site}: {metric_label(metric)} vs SAE sparsity"
    show_figure(panel(data, metric, site, markers, title), title, data=data[data["metric"] == metric].drop(columns=["run_key"]),
                specs={"compression": spec.compression.label(), "site": site, "layers": layers, "metric": metric,
                       "sae_prune_method": spec.sae_prune_method, "eval_sequences": spec.eval.n_sequences,
                       "markers": markers},
                cli=[sweep_command(spec, [site], layers)], key=f"sweep_{site}")
    for layer, col in zip(layers, st.columns(len(layers))):
        cards(bench, spec, site, layer, frames[layer], metric, markers[layer], col)
    if os.environ.get("SAEVIZ_PROFILE"):  # server-side share of a slider move's latency
        print(f"saeviz: sweep fragment {1000 * (time.perf_counter() - started):.0f} ms", file=sys.stderr, flush=True)
