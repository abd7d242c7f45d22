"""Streamlit caching around saeviz: one loaded Workbench per (model, SAEs, tokens, cache folder), shared
by all sessions, and memoised cache reads keyed by the run keys asked for plus a generation number that
moves whenever this process writes new results (a job ends, a slider computes a point)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import streamlit as st

from saeviz.embedded import sae_dir
from saeviz.errors import SaevizError
from saeviz.pipeline.info import default_sae_specs, load_summary
from saeviz.specs import EMBEDDED, EMBEDDED_SAE_TEMPLATE, SITE_HOOKS, ModelSpec, SaeSpec
from saeviz.store import demo
from saeviz.store.demo import demo_dir
from ui import jobs
from ui.jobs import eta_text
from ui.sidebar import current_specs

_GENERATION = [0]


def bump_generation() -> None:
    """New results were written: memoised reads must look again."""
    _GENERATION[0] += 1


def generation() -> int:
    return _GENERATION[0]


def _cache_root() -> str:
    # lazy: saeviz.store.db pulls in pandas, torch, which importing ui.cached does without
    from saeviz.store.db import cache_dir

    return str(cache_dir())


@st.cache_resource(show_spinner=False, max_entries=8)
def _workbench(model: ModelSpec, sae_template: str, tokens_source: str, root: str):
    # lazy: saeviz.pipeline.workbench pulls in pandas, torch, which importing ui.cached does without
    from saeviz.pipeline.workbench import Workbench
    from saeviz.store.db import Store

    return Workbench(model, Store(Path(root)), tokens_source=tokens_source, sae_template=sae_template)


def workbench_for(model: ModelSpec):
    """The Workbench of the sidebar's choices; the model itself loads on first use, not here."""
    template = st.session_state.get("sae_template") or EMBEDDED_SAE_TEMPLATE
    tokens = st.session_state.get("tokens_source") or EMBEDDED
    return _workbench(model, template.strip(), tokens.strip(), _cache_root())


def page_workbench():
    """(bench, n_layers) of the sidebar's choices for a page; a bad choice stops the page with its message."""
    model_spec, _ = current_specs()
    try:
        bench = workbench_for(model_spec)
        return bench, n_layers_for(bench)
    except (SaevizError, ValueError) as exc:
        st.error(str(exc))
        st.stop()


def page_sites(bench) -> tuple[str, ...]:
    """The sites the sidebar's SAEs cover (all three on the embedded default; resid for gpt2-small-res-jb)."""
    try:
        return bench.sites()
    except (SaevizError, ValueError) as exc:
        st.error(str(exc))
        st.stop()


def site_name(bench, site: str) -> str:
    """'resid', or 'resid (resid_pre)' where the SAEs read another hook than the site's default, for pickers."""
    try:
        leaf = bench.sae_hook(site, 0).rsplit(".", 1)[-1]
    except (SaevizError, ValueError):
        return site
    return site if leaf == SITE_HOOKS[site].rsplit(".", 1)[-1] else f"{site} ({leaf.removeprefix('hook_')})"


def loaded_model(bench):
    """The bench's base model, loading it behind a spinner the first time."""
    if not bench.loaded()["base_model"]:
        with st.spinner(f"Loading {bench.model_spec.name}..."):
            return bench.base_model
    return bench.base_model


def n_layers_for(bench) -> int:
    """Layer count; for the embedded default read from its config, so no page loads the model just for it."""
    if bench.model_spec.is_embedded:
        return bench.n_layers()  # read from its config, no load
    return loaded_model(bench).cfg.n_layers


@st.cache_resource(show_spinner=False, max_entries=64)
def _d_sae(_bench, key: str, site: str, layer: int) -> int:
    return _d_sae_uncached(_bench, site, layer)


def d_sae_for(bench, site: str, layer: int) -> int:
    return _d_sae(bench, f"{bench.model_key}:{bench.sae_template}", site, layer)


def _d_sae_uncached(bench, site: str, layer: int) -> int:
    if bench.sae_template == EMBEDDED_SAE_TEMPLATE:
        cfg = sae_dir(site, layer) / "cfg.json"
        if cfg.is_file():
            return int(json.loads(cfg.read_text())["d_sae"])
    loaded_model(bench)
    return int(bench.pretrained_sae(site, layer).cfg.d_sae)


@st.cache_resource(show_spinner="Loading the model and its SAEs...")
def summary_for(model: ModelSpec, saes: tuple[SaeSpec, ...] | None, template: str = EMBEDDED_SAE_TEMPLATE) -> dict:
    bench = workbench_for(model)
    if saes is None and template != EMBEDDED_SAE_TEMPLATE:
        saes = tuple(default_sae_specs(model, template, bench.sites(), loaded_model(bench).cfg.n_layers))
    specs = list(saes) if saes is not None else default_sae_specs(model)
    return load_summary(model, specs, model=bench.base_model)  # one loaded copy for every page


def _demo_dir() -> str:
    return str(demo_dir())


@st.cache_data(show_spinner=False, max_entries=512)
def _runs(root: str, keys: tuple[str, ...], gen: int, demo: str):
    # lazy: ui.reads pulls in pandas, which importing ui.cached does without
    from ui.reads import read_runs_uncached

    return read_runs_uncached(root, list(keys))


def read_runs(bench, keys) -> "pd.DataFrame":  # noqa: F821
    """Metric rows of these run keys from the cache (and the shipped demo data), memoised."""
    return _runs(str(bench.store.root), tuple(keys), generation(), _demo_dir())


@st.cache_data(show_spinner=False, max_entries=64)
def _stats(root: str, key: str, gen: int, demo: str):
    # lazy: ui.reads pulls in pandas, which importing ui.cached does without
    from ui.reads import compress_stats_uncached

    return compress_stats_uncached(root, key)


def compress_stats(bench, compress) -> "pd.DataFrame":  # noqa: F821
    return _stats(str(bench.store.root), bench.compress_key(compress), generation(), _demo_dir())


def progress_bar(label: str):
    """A saeviz progress callback drawing a Streamlit progress bar with an ETA (work in the page's thread)."""
    bar, start = st.progress(0.0, text=label), time.monotonic()

    def update(done: int, total: int, message: str = "") -> bool:
        eta = eta_text(done, total, time.monotonic() - start)
        bar.progress(min(done / max(total, 1), 1.0), text=f"{label}: {message} ({done}/{total}{', ' + eta if eta else ''})")
        return True

    return update


def _register() -> None:
    jobs.on_job_end(bump_generation)


_register()


@st.cache_resource(show_spinner=False)
def _shipped_loader(root: str, demo_dir: str, runs: bool) -> dict:
    """Copy the shipped demo data into this cache once per process, in the background: its model masks
    always (so a slider's first new point needs no calibration pass), its metric rows in demo mode."""
    state = {"done": False, "added": None}

    def load():
        # lazy: saeviz.store.db pulls in pandas, torch, which importing ui.cached does without
        from saeviz.store.db import Store

        try:
            state["added"] = demo.load_into_store(Store(Path(root)), Path(demo_dir), runs=runs)
        except Exception as exc:  # the app works without it: it only saves waiting
            state["added"] = f"not loaded: {type(exc).__name__}: {exc}"
        finally:
            state["done"] = True
            bump_generation()

    # not a daemon: killed mid-write at interpreter exit, torch/duckdb abort the process; it takes seconds
    threading.Thread(target=load, name="saeviz-demo-load", daemon=False).start()
    return state


def load_shipped(demo_mode: bool) -> dict:
    return _shipped_loader(_cache_root(), _demo_dir(), demo_mode)
