"""The sidebar every page shares: which model and which SAEs; UI choices only."""

import streamlit as st

from saeviz.specs import EMBEDDED, ModelSpec, SaeSpec, spec_help


def model_sidebar() -> None:
    with st.sidebar:
        st.header("Model")
        st.text_input("Model", value=EMBEDDED, key="model_name", help=spec_help(ModelSpec, "name"))
        st.text_area(
            "SAEs (one per line)", key="sae_refs", height=90,
            placeholder="empty: all SAEs of the embedded model\nembedded/resid/layer_3\ngpt2-small-res-jb/blocks.8.hook_resid_pre\n/path/to/sae_dir",
            help="RELEASE/SAE_ID of sae_lens' pretrained list, 'embedded/<site>/layer_<n>', or a folder in sae_lens' format.",
        )


def current_specs() -> tuple[ModelSpec, list[SaeSpec] | None]:
    """The specs the sidebar describes; None for SAEs means 'the model's default SAEs'."""
    model = ModelSpec(name=st.session_state.get("model_name", EMBEDDED).strip() or EMBEDDED)
    lines = [line.strip() for line in st.session_state.get("sae_refs", "").splitlines() if line.strip()]
    return model, ([SaeSpec.parse(line) for line in lines] if lines else None)
