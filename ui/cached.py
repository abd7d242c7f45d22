"""Streamlit caching around saeviz loaders: one loaded copy per spec, shared by all sessions."""

import streamlit as st

from saeviz.experiment import Workbench
from saeviz.info import default_sae_specs, load_summary
from saeviz.specs import ModelSpec, SaeSpec
from saeviz.store import Store


@st.cache_resource(show_spinner="Loading the model...")
def workbench_for(model: ModelSpec) -> Workbench:
    return Workbench(model, Store())


@st.cache_resource(show_spinner="Loading the model and its SAEs...")
def summary_for(model: ModelSpec, saes: tuple[SaeSpec, ...] | None) -> dict:
    specs = list(saes) if saes is not None else default_sae_specs(model)
    return load_summary(model, specs, model=workbench_for(model).base_model)  # one loaded copy for every page


def progress_bar(label: str):
    """A saeviz progress callback drawing a Streamlit progress bar with an ETA."""
    import time

    bar, start = st.progress(0.0, text=label), time.monotonic()

    def update(done: int, total: int, message: str = "") -> bool:
        eta_text = f", about {(time.monotonic() - start) / done * (total - done):.0f} s left" if done else ""
        bar.progress(min(done / max(total, 1), 1.0), text=f"{label}: {message} ({done}/{total}{eta_text})")
        return True

    return update
