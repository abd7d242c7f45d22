"""The sidebar every page shares: which model, which SAEs, which tokens, how many evaluation sequences.
UI choices only; pages turn them into specs with the functions below."""

from pathlib import Path

import streamlit as st

from saeviz.specs import EMBEDDED, EMBEDDED_SAE_TEMPLATE, EvalSpec, ModelSpec, SaeSpec, spec_help

SOURCES = {"Embedded default": EMBEDDED, "Hub name": "", "Local directory": ""}


def _source_changed() -> None:
    source = st.session_state["model_source"]
    st.session_state["model_name"] = EMBEDDED if source == "Embedded default" else ""
    if source == "Embedded default":
        st.session_state["sae_template"] = EMBEDDED_SAE_TEMPLATE


DEFAULTS = {"model_source": "Embedded default", "model_name": EMBEDDED, "sae_template": EMBEDDED_SAE_TEMPLATE,
            "tokens_source": EMBEDDED, "eval_n": EvalSpec().n_sequences, "sae_refs": ""}


def model_sidebar() -> None:
    name = st.session_state.get("model_name", EMBEDDED)
    if "model_source" not in st.session_state and name != EMBEDDED:  # a model named before the radio existed
        st.session_state["model_source"] = "Local directory" if Path(name).expanduser().exists() else "Hub name"
    for key, value in DEFAULTS.items():  # defaults through session state, so callbacks may change them
        st.session_state.setdefault(key, value)
    with st.sidebar:
        st.header("Model")
        st.radio("Model source", list(SOURCES), key="model_source", horizontal=False, on_change=_source_changed,
                 help="The embedded default runs offline; a hub name needs the network; a local directory is a "
                      "Hugging Face checkpoint (config.json + weights + tokenizer).")
        source = st.session_state.get("model_source", "Embedded default")
        st.text_input("Model", key="model_name", disabled=source == "Embedded default",
                      placeholder="gpt2-small" if source == "Hub name" else "/path/to/checkpoint",
                      help=spec_help(ModelSpec, "name"))
        st.text_input("SAE source", key="sae_template",
                      help="Where each (site, layer) SAE comes from, with {site} and {layer} filled in: the embedded "
                           "SAEs, a sae_lens release (e.g. gpt2-small-res-jb/blocks.{layer}.hook_resid_pre) or a folder "
                           "pattern (/saes/{site}/layer_{layer}).")
        st.text_input("Token sets", key="tokens_source",
                      help="'embedded' or a folder with calibration/eval/train.safetensors token ids.")
        st.number_input("Evaluation sequences", 1, 4096, key="eval_n",
                        help=spec_help(EvalSpec, "n_sequences"))
        with st.expander("SAEs listed on the home page"):
            st.text_area(
                "SAEs (one per line)", key="sae_refs", height=90,
                placeholder="empty: all SAEs of the embedded model\nembedded/resid/layer_3\ngpt2-small-res-jb/blocks.8.hook_resid_pre",
                help="RELEASE/SAE_ID of sae_lens' pretrained list, 'embedded/<site>/layer_<n>', or a folder in sae_lens' format.",
            )


def current_specs() -> tuple[ModelSpec, list[SaeSpec] | None]:
    """The specs the sidebar describes; None for SAEs means 'the model's default SAEs'."""
    model = ModelSpec(name=st.session_state.get("model_name", EMBEDDED).strip() or EMBEDDED)
    lines = [line.strip() for line in st.session_state.get("sae_refs", "").splitlines() if line.strip()]
    return model, ([SaeSpec.parse(line) for line in lines] if lines else None)


def current_eval_spec() -> EvalSpec:
    return EvalSpec(n_sequences=int(st.session_state.get("eval_n", EvalSpec().n_sequences)))
