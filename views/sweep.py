"""Compress the model, sweep the SAE's own sparsity, and compare pretrained, pruned, PrunedBest and retrained SAEs."""

import streamlit as st

from saeviz.compress import COMPRESSORS
from saeviz.errors import SaevizError
from saeviz.plots import METRIC_LABELS, compress_stats_figure, model_ce_figure, sweep_curves_figure
from saeviz.specs import DEFAULT_SAE_SWEEP, SITES, CompressSpec, EvalSpec, TrainSpec, spec_help
from saeviz.sweep import SweepSpec, run_sweep
from ui.cached import progress_bar, workbench_for
from ui.sidebar import current_specs

st.title("Compression and SAE sweeps")
model_spec, _ = current_specs()
try:
    bench = workbench_for(model_spec)
    n_layers = bench.base_model.cfg.n_layers
except (SaevizError, ValueError) as exc:
    st.error(str(exc))
    st.stop()

left, right = st.columns(2)
with left:
    st.subheader("Model compression")
    method = st.selectbox("Method", [m for m in COMPRESSORS if m != "dense"], help=spec_help(CompressSpec, "method"))
    if method == "rtn":
        bits = st.select_slider("Bits", [8, 4, 3, 2], value=8)
        group = st.select_slider("Group size", [0, 32, 64, 128], value=128, help=spec_help(CompressSpec, "group_size"))
        compress = CompressSpec(method="rtn", bits=bits, group_size=group)
    else:
        sparsity = st.slider("Sparsity (all layers)", 0.0, 0.95, 0.5, 0.05, help=spec_help(CompressSpec, "sparsity"))
        with st.expander("Per-layer sparsity"):
            per_layer = {layer: st.slider(f"Layer {layer}", 0.0, 0.95, sparsity, 0.05, key=f"layer_sparsity_{layer}")
                         for layer in range(n_layers)}
        overrides = {layer: s for layer, s in per_layer.items() if s != sparsity}
        compress = CompressSpec(method=method, sparsity=sparsity, layer_sparsity=overrides)
with right:
    st.subheader("SAE variants")
    sites = st.multiselect("Sites", SITES, default=list(SITES))
    sae_method = st.radio("SAE pruning", ["wanda", "magnitude"], horizontal=True)
    sae_sparsities = st.multiselect("SAE sparsities", DEFAULT_SAE_SWEEP, default=list(DEFAULT_SAE_SWEEP), format_func=lambda s: f"{s:.0%}")
    retrain_tokens = st.number_input("Retraining tokens (0: no retrained SAE)", 0, 20_000_000, 0, step=250_000,
                                     help=spec_help(TrainSpec, "training_tokens"))

try:
    spec = SweepSpec(compression=compress, sites=tuple(sites), sae_sparsities=tuple(sorted(sae_sparsities)),
                     sae_prune_method=sae_method, eval=EvalSpec(),
                     retrain=TrainSpec(training_tokens=retrain_tokens) if retrain_tokens else None)
except ValueError as exc:
    st.error(str(exc))
    st.stop()

if st.button("Run or resume the sweep", type="primary", help="Finished parts come from the cache; any click elsewhere cancels."):
    try:
        st.session_state["sweep_rows"] = run_sweep(bench, spec, progress=progress_bar(spec.compression.label()))
        st.session_state["sweep_key"] = spec
    except (SaevizError, ValueError) as exc:
        st.error(str(exc))

rows = st.session_state.get("sweep_rows") if st.session_state.get("sweep_key") == spec else None
if rows is None:
    st.info("Run the sweep to compute these settings (what is already cached returns at once).")
    st.stop()

model_rows = rows[rows["site"].isna() & (rows["metric"] == "ce_loss")][["compression", "value"]].rename(columns={"value": "ce_loss"})
metrics = [m for m in METRIC_LABELS if m in set(rows["metric"])]
metric = st.selectbox("Metric", metrics, index=metrics.index("explained_variance"), format_func=METRIC_LABELS.get)
st.plotly_chart(sweep_curves_figure(rows, metric), use_container_width=True)
c1, c2 = st.columns([1, 1])
c1.plotly_chart(model_ce_figure(model_rows), use_container_width=True)
stats = bench.store.compress_stats(bench.compress_key(spec.compression))
if len(stats):
    value = "quant_error" if spec.compression.method == "rtn" else "sparsity"
    c1.plotly_chart(compress_stats_figure(stats, value), use_container_width=True)
best = rows[(rows["variant"] == "pruned_best") & (rows["metric"] == metric)][["site", "layer", "sae_sparsity", "value"]]
c2.subheader("PrunedBest per site and layer")
c2.dataframe(best.rename(columns={"sae_sparsity": "SAE sparsity", "value": metric}), hide_index=True, use_container_width=True)
with st.expander("All rows"):
    st.dataframe(rows, hide_index=True, use_container_width=True)
    st.download_button("Download CSV", rows.to_csv(index=False), file_name=f"sweep-{spec.compression.label()}.csv")
