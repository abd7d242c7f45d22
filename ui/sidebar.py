"""The sidebar every page shares: which model, which SAEs, which tokens, how many evaluation sequences.
UI choices only; pages turn them into specs with the functions below."""

import os
from pathlib import Path

import streamlit as st

from saeviz.specs import EMBEDDED, EMBEDDED_SAE_TEMPLATE, EvalSpec, ModelSpec, SaeSpec, spec_help

SOURCES = {"Embedded default": EMBEDDED, "Hub name": "", "Local directory": ""}
# the paper's models with their public SAE releases: (model, SAE template)
PRESETS = {
    "GPT-2 Small, res-jb": ("gpt2-small", "gpt2-small-res-jb/blocks.{layer}.hook_resid_pre"),
    "GPT-2 Small, OpenAI v5 32k": ("gpt2-small", "gpt2-small-resid-post-v5-32k/blocks.{layer}.hook_resid_post"),
    "Gemma-2-2B, Gemma Scope res": ("gemma-2-2b", "gemma-scope-2b-pt-res-canonical/layer_{layer}/width_16k/canonical"),
    "Gemma-2-2B, Gemma Scope MLP": ("gemma-2-2b", "gemma-scope-2b-pt-mlp-canonical/layer_{layer}/width_16k/canonical"),
}
CUSTOM = "(type them below)"


def _preset_chosen() -> None:
    choice = st.session_state.get("hub_preset")
    if choice in PRESETS:
        st.session_state["model_name"], st.session_state["sae_template"] = PRESETS[choice]


def _source_changed() -> None:
    source = st.session_state["model_source"]
    st.session_state["model_name"] = EMBEDDED if source == "Embedded default" else ""
    if source == "Embedded default":
        st.session_state["sae_template"] = EMBEDDED_SAE_TEMPLATE


RUN_ON = ("This machine", "Ray cluster")
_RAY_ENV = os.environ.get("SAEVIZ_RAY_ADDRESS", "")

DEFAULTS = {"run_on": RUN_ON[1] if _RAY_ENV else RUN_ON[0], "ray_address": _RAY_ENV or "local", "ray_cpus": 1.0,
            "ray_gpus": 0.0, "ray_shared": False, "model_source": "Embedded default", "model_name": EMBEDDED, "sae_template": EMBEDDED_SAE_TEMPLATE,
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
                 help="The embedded default runs offline; a hub name loads from the Hugging Face hub, or offline from "
                      "its local cache; a local directory is a "
                      "Hugging Face checkpoint (config.json + weights + tokenizer).")
        source = st.session_state.get("model_source", "Embedded default")
        if source == "Hub name":
            st.selectbox("Preset", [CUSTOM, *PRESETS], key="hub_preset", on_change=_preset_chosen,
                         help="The paper's models with their public SAE releases; build a token set for the model on "
                              "the Model & compression page (its own tokenizer, the SAEs' training text).")
        st.text_input("Model", key="model_name", disabled=source == "Embedded default",
                      placeholder="gpt2-small" if source == "Hub name" else "/path/to/checkpoint",
                      help=spec_help(ModelSpec, "name"))
        st.text_input("SAE source", key="sae_template",
                      help="Where each (site, layer) SAE comes from, with {site} and {layer} filled in: the embedded "
                           "SAEs, a sae_lens release (e.g. gpt2-small-res-jb/blocks.{layer}.hook_resid_pre) or a folder "
                           "pattern (/saes/{site}/layer_{layer}).")
        st.text_input("Token sets", key="tokens_source",
                      help="'embedded' (the embedded model's) or a folder built for the model by `python -m saeviz tokens` "
                           "or on the Model & compression page; a token set of another tokenizer is refused.")
        st.number_input("Evaluation sequences", 1, 4096, key="eval_n",
                        help=spec_help(EvalSpec, "n_sequences"))
        with st.expander("SAEs listed on the home page"):
            st.text_area(
                "SAEs (one per line)", key="sae_refs", height=90,
                placeholder="empty: all SAEs of the embedded model\nembedded/resid/layer_3\ngpt2-small-res-jb/blocks.8.hook_resid_pre",
                help="RELEASE/SAE_ID of sae_lens' pretrained list, 'embedded/<site>/layer_<n>', or a folder in sae_lens' format.",
            )
        _run_on()


def _run_on() -> None:
    st.header("Run on")
    st.radio("Run long jobs on", RUN_ON, key="run_on", horizontal=True,
             help="Sweeps and evaluations run here, or as units on Ray (each layer and site, or each variant, on a "
                  "worker that keeps its models loaded); results land in this cache either way.")
    if st.session_state.get("run_on") != RUN_ON[1]:
        return
    st.text_input("Ray address", key="ray_address",
                  help="'local': a Ray started on this machine; 'auto' or HOST:PORT: a cluster started with `ray start` "
                       "(the CLI's --ray ADDRESS, or SAEVIZ_RAY_ADDRESS).")
    c = st.columns(2)
    c[0].number_input("CPUs per unit", 0.25, 256.0, step=1.0, key="ray_cpus")
    c[1].number_input("GPUs per unit", 0.0, 8.0, step=1.0, key="ray_gpus", help="1: one unit per GPU.")
    st.checkbox("Nodes share this cache folder", key="ray_shared",
                help="Every node sees the cache at this same path: workers read trained SAEs, activations and compressed "
                     "weights from it instead of receiving or recomputing them.")
    # lazy: the cluster package pulls in the pipeline (torch); the sidebar draws before any model loads
    from saeviz.cluster.ray_runner import cluster_info

    info = cluster_info()
    st.caption("Connects when a job starts." if info is None else
               f"Connected to {info['address']}: {info['nodes']} node(s), {info['cpus']:g} CPUs, {info['gpus']:g} GPUs; "
               f"{info['workers']} worker(s) of this dashboard.")


def current_executor():
    """RayOptions for the chosen cluster, or None to run jobs in this process."""
    if st.session_state.get("run_on") != RUN_ON[1]:
        return None
    # lazy: the cluster package pulls in the pipeline (torch); the sidebar draws before any model loads
    from saeviz.cluster.ray_runner import RayOptions

    address = str(st.session_state.get("ray_address", "local")).strip() or "local"
    return RayOptions(address=address, cpus_per_unit=float(st.session_state.get("ray_cpus", 1.0)),
                      gpus_per_unit=float(st.session_state.get("ray_gpus", 0.0)),
                      shared_cache=bool(st.session_state.get("ray_shared", False)))


def current_specs() -> tuple[ModelSpec, list[SaeSpec] | None]:
    """The specs the sidebar describes; None for SAEs means 'the model's default SAEs'."""
    model = ModelSpec(name=st.session_state.get("model_name", EMBEDDED).strip() or EMBEDDED)
    lines = [line.strip() for line in st.session_state.get("sae_refs", "").splitlines() if line.strip()]
    return model, ([SaeSpec.parse(line) for line in lines] if lines else None)


def current_eval_spec() -> EvalSpec:
    return EvalSpec(n_sequences=int(st.session_state.get("eval_n", EvalSpec().n_sequences)))
