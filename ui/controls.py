"""Widgets that build specs: the compression settings (one sparsity slider per layer plus a uniform
master slider), pickers of compressions and SAE variants shared by several pages."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from saeviz.compression.methods import COMPRESSORS
from saeviz.specs import CHECKPOINT, QUANTIZERS, CompressSpec, spec_help
from saeviz.store import demo

COMMON = ("wanda-50%", "wanda-2:4", "rtn-int4-g128-sym", "wanda-30%", "magnitude-50%", "rtn-int8-g128-sym",
          "sparsegpt-50%", "sparsegpt-2:4", "gptq-int4-g128-sym")
KNOWN_KEY = "known_compressions"
PATTERNS = {"unstructured": None, "2:4": (2, 4), "4:8": (4, 8)}


def known_compressions() -> dict[str, CompressSpec]:
    """Compressions offered by the pickers: the common ones, the demo's, and any set on the compression page."""
    known = st.session_state.setdefault(KNOWN_KEY, {})

    cfg = demo.settings()
    labels = ([cfg.compression, *cfg.overlays] if cfg else []) + list(COMMON)
    for label in labels:
        spec = CompressSpec.parse(label)
        known.setdefault(spec.label(), spec)
    return known


def remember(spec: CompressSpec) -> None:
    known_compressions()[spec.label()] = spec


def default_compression() -> str:
    current = st.session_state.get("current_compression")
    if current:
        return current

    cfg = demo.settings()
    return CompressSpec.parse(cfg.compression).label() if cfg else "wanda-50%"


def compression_picker(label: str, key: str, help: str | None = None) -> CompressSpec:
    known = known_compressions()
    options = list(known)
    default = default_compression()
    if st.session_state.get(key) not in options:
        st.session_state[key] = default if default in options else options[0]
    choice = st.selectbox(label, options, key=key, help=help or "Set other compressions on the Model & compression page.")
    return known[choice]


def compressions_multi(label: str, key: str, default: list[str]) -> list[CompressSpec]:
    known = known_compressions()
    chosen = st.multiselect(label, list(known), default=[d for d in default if d in known], key=key)
    return [known[c] for c in chosen]


def _master_changed(n_layers: int) -> None:
    for layer in range(n_layers):
        st.session_state[f"cp_layer_{layer}"] = st.session_state["cp_master"]


def compression_controls(n_layers: int) -> CompressSpec:
    """Method and its settings; for unstructured pruning a master slider that sets every layer, and one
    slider per layer that overrides it. Raises ValueError (shown by the page) for an invalid mix."""
    methods = [m for m in COMPRESSORS if m != "dense"] + [CHECKPOINT]
    st.session_state.setdefault("cp_method", "wanda")
    method = st.selectbox("Method", methods, key="cp_method", help=spec_help(CompressSpec, "method") + " checkpoint: "
                          + spec_help(CompressSpec, "checkpoint"))
    if method == CHECKPOINT:
        path = st.text_input("Checkpoint directory", key="cp_checkpoint", placeholder="/models/gpt2-gptq-int4",
                             help=spec_help(CompressSpec, "checkpoint"))
        if not path.strip():
            raise ValueError("Give the checkpoint's directory (config.json and *.safetensors): a compressed-tensors, GPTQ or AWQ "
                             "checkpoint, or a pruned model saved dense, of this page's model.")
        if not (Path(path.strip()).expanduser() / "config.json").is_file():
            raise ValueError(f"{path.strip()} has no config.json: give a Hugging Face checkpoint directory on this machine.")
        return CompressSpec(method=CHECKPOINT, checkpoint=path.strip(), sparsity=0.0)
    if method in QUANTIZERS:
        c1, c2, c3 = st.columns(3)
        bits = c1.select_slider("Bits", [8, 4, 3, 2], value=4, key="cp_bits", help=spec_help(CompressSpec, "bits"))
        group = c2.select_slider("Group size", [0, 32, 64, 128], value=128, key="cp_group", help=spec_help(CompressSpec, "group_size"))
        symmetric = c3.toggle("Symmetric", value=True, key="cp_sym", help=spec_help(CompressSpec, "symmetric"))
        extra = {}
        if method == "gptq":
            extra["act_order"] = c3.toggle("Act-order", value=False, key="cp_act", help=spec_help(CompressSpec, "act_order"))
            extra["n_calibration"] = st.number_input("Calibration sequences", 1, 1024, 128, key="cp_calib_q",
                                                     help=spec_help(CompressSpec, "n_calibration"))
        return CompressSpec(method=method, bits=bits, group_size=group, symmetric=symmetric, **extra)
    pattern = st.radio("Pattern", list(PATTERNS), horizontal=True, key="cp_pattern", help=spec_help(CompressSpec, "n_m"))
    extra = {}
    if method in ("wanda", "sparsegpt"):
        extra["n_calibration"] = st.number_input("Calibration sequences", 1, 1024, 128, key="cp_calib",
                                                 help=spec_help(CompressSpec, "n_calibration"))
    if PATTERNS[pattern]:
        return CompressSpec(method=method, n_m=PATTERNS[pattern], **extra)
    st.session_state.setdefault("cp_master", 0.5)
    master = st.slider("All layers (master)", 0.0, 0.95, step=0.05, key="cp_master", on_change=_master_changed, args=(n_layers,),
                       help="Sets every layer's slider; move a layer's own slider to override it.")
    cols = st.columns(min(n_layers, 6))
    per_layer = {}
    for layer in range(n_layers):
        st.session_state.setdefault(f"cp_layer_{layer}", master)
        per_layer[layer] = cols[layer % len(cols)].slider(f"Layer {layer}", 0.0, 0.95, step=0.05, key=f"cp_layer_{layer}")
    overrides = {layer: s for layer, s in per_layer.items() if abs(s - master) > 1e-9}
    return CompressSpec(method=method, sparsity=master, layer_sparsity=overrides, **extra)
