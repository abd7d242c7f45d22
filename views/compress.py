"""Model and compression: the method and its settings (a sparsity slider per layer plus a master slider),
then what it did: achieved sparsity (or quantization error) per layer and matrix, and the compressed
model's cross-entropy and perplexity next to the dense model's. Cached results show at once; a new
setting is one background job (progress, estimate, cancel)."""

import math

import pandas as pd
import streamlit as st

from saeviz.pipeline import runner
from saeviz.report.plots import compress_stats_figure, model_ce_figure
from saeviz.specs import CHECKPOINT, DENSE
from ui import jobs
from ui.cached import compress_stats, page_workbench, read_runs
from ui.cli_text import compress_flags
from ui.controls import compression_controls, remember
from ui.export_ui import show_figure
from ui.reads import model_ce, model_ce_key
from ui.sidebar import current_eval_spec
from ui.tokens_view import token_set_panel

st.title("Model and compression")
bench, n_layers = page_workbench()
st.caption(f"Model **{bench.model_spec.name}** ({n_layers} layers), SAEs from `{bench.sae_template}`, tokens from "
           f"`{bench.tokens_source}` (change them in the sidebar).")
token_set_panel(bench)

left, right = st.columns([1, 1.5], gap="large")
with left:
    st.subheader("Compression")
    try:
        spec = compression_controls(n_layers)
    except ValueError as exc:
        st.error(str(exc))
        st.stop()
    remember(spec)
    st.session_state["current_compression"] = spec.label()
    st.caption(f"Label: `{spec.label()}` (the other pages offer it in their compression pickers).")

eval_spec = current_eval_spec()
rows = read_runs(bench, [model_ce_key(bench, DENSE, eval_spec), model_ce_key(bench, spec, eval_spec)])
dense_ce = model_ce(rows[rows["compression"] == "dense"])
comp_ce = model_ce(rows[rows["compression"] == spec.label()])
stats = compress_stats(bench, spec)
job_key = f"compress:{bench.store.root}:{bench.model_key}:{spec}:{eval_spec}"


def _work(progress):
    def phase(done, total, message=""):  # compression's own steps, then the two CE measurements
        return progress(done, total + 2, message)

    bench.compressed(spec, phase)  # loads the model first when needed (in this job's thread)
    progress(n_layers, n_layers + 2, "CE of the dense model")
    runner.model_ce(bench, DENSE, eval_spec)
    progress(n_layers + 1, n_layers + 2, f"CE of {spec.label()}")
    runner.model_ce(bench, spec, eval_spec)
    progress(n_layers + 2, n_layers + 2, "done")


with right:
    st.subheader("What it did")
    if dense_ce is None or comp_ce is None or stats.empty:
        st.info(f"{spec.label()} is not computed yet" + (" (the dense model's CE is cached)" if dense_ce is not None else "")
                + ": seconds on the embedded default for WANDA, SparseGPT and GPTQ (calibration), magnitude and RTN; "
                "a checkpoint is read and measured against this model.")
        if st.button("Compress and measure", type="primary", key="cp_run"):
            jobs.start(job_key, f"compress {spec.label()}", _work)
    jobs.job_panel(job_key)
    if dense_ce is not None and comp_ce is not None:
        c = st.columns(4)
        c[0].metric("CE, dense (nats)", f"{dense_ce:.4f}")
        c[1].metric(f"CE, {spec.label()}", f"{comp_ce:.4f}", delta=f"{comp_ce - dense_ce:+.4f}", delta_color="inverse")
        c[2].metric("Perplexity, dense", f"{math.exp(dense_ce):.2f}")
        c[3].metric("Perplexity, compressed", f"{math.exp(comp_ce):.2f}", delta=f"{math.exp(comp_ce) - math.exp(dense_ce):+.2f}",
                    delta_color="inverse")
        ce = pd.DataFrame({"compression": ["dense", spec.label()], "ce_loss": [dense_ce, comp_ce]})
        show_figure(model_ce_figure(ce), f"CE of dense vs {spec.label()}", data=ce,
                    specs={"compression": spec.label(), "eval_sequences": eval_spec.n_sequences},
                    cli=[f"python -m saeviz compress {compress_flags(spec)} --eval-sequences {eval_spec.n_sequences}"], key="cp_ce")

VALUE_TITLES = {"sparsity": "Achieved sparsity per layer and matrix", "quant_error": "Mean |change| of each weight per layer and matrix"}
values = ["sparsity", "quant_error"] if spec.method == CHECKPOINT else ["quant_error" if spec.quantizes else "sparsity"]
for value in values if len(stats) else []:
    where = {"sparsity": " (as saved)", "quant_error": " (against this model)"}[value] if spec.method == CHECKPOINT else ""
    st.subheader(VALUE_TITLES[value] + where)
    show_figure(compress_stats_figure(stats, value), f"{spec.label()} {value} per matrix", data=stats.drop(columns=["compress_key"]),
                specs={"compression": spec.label()}, cli=[f"python -m saeviz compress {compress_flags(spec)}"], key=f"cp_stats_{value}")
    if value == "sparsity" and spec.method != CHECKPOINT:
        per_layer = stats.groupby("layer")["sparsity"].agg(["min", "max"]).reset_index()
        per_layer.insert(1, "asked", [spec.sparsity_for(int(layer)) for layer in per_layer["layer"]])
        st.dataframe(per_layer.rename(columns={"min": "achieved (lowest matrix)", "max": "achieved (highest matrix)"}),
                     hide_index=True, width="content")
