"""Streamlit caching around saeviz loaders: one loaded copy per spec, shared by all sessions."""

import streamlit as st

from saeviz.info import default_sae_specs, load_summary
from saeviz.specs import ModelSpec, SaeSpec


@st.cache_resource(show_spinner="Loading the model and its SAEs...")
def summary_for(model: ModelSpec, saes: tuple[SaeSpec, ...] | None) -> dict:
    specs = list(saes) if saes is not None else default_sae_specs(model)
    return load_summary(model, specs)
