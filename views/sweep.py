"""SAE sparsity sweep: any core metric against the SAE's own sparsity for a site (one curve per layer),
with the pretrained, PrunedBest, retrained and dense-reference values; one slider per layer; the paper's
Figure 1 layout one tab away. Everything cached shows at once; the rest is one job away."""

from dataclasses import replace

import streamlit as st

from saeviz.cluster import run as execute
from saeviz.pipeline.sweep import SweepSpec
from saeviz.report.plots import METRIC_LABELS, figure1, metric_label
from saeviz.specs import DEFAULT_SAE_SWEEP, TrainSpec, spec_help
from saeviz.store import demo
from ui import jobs
from ui.cached import page_sites, page_workbench, read_runs, site_name
from ui.cli_text import sweep_command
from ui.controls import compression_picker
from ui.export_ui import show_figure, table_exports
from ui.reads import sweep_keys, variant_table
from ui.sidebar import current_eval_spec, current_executor
from ui.sweep_view import explorer

st.title("SAE sparsity sweep")
st.caption("How much of its own weights can the pretrained SAE lose on the compressed model, against applying it as is, "
           "retraining one, and the dense model? Moving a layer's slider updates only the chart and cards below it.")
bench, n_layers = page_workbench()
cfg = demo.settings()

c = st.columns([1.3, 1.0, 1.5, 1.5])
with c[0]:
    compress = compression_picker("Model compression", "sw_comp")
sites = page_sites(bench)
site = c[1].selectbox("Site", sites, index=sites.index("resid") if "resid" in sites else 0, key="sw_site",
                      format_func=lambda s: site_name(bench, s),
                      help="Where the SAEs read: attn (hook_z), mlp (hook_mlp_out), resid (the residual stream at the "
                           "hook the SAEs were trained on)")
metrics = [m for m in METRIC_LABELS if m not in ("normalized_freq_over_1_percent", "normalized_freq_over_10_percent")]
metric = c[2].selectbox("Metric", metrics, index=metrics.index("explained_variance"), format_func=metric_label, key="sw_metric")
layers = c[3].multiselect("Layers", list(range(n_layers)), default=list(range(n_layers)), key="sw_layers")
with st.expander("Sweep settings (what is computed for a run)"):
    s = st.columns(3)
    method = s[0].radio("SAE pruning", ["wanda", "magnitude"], horizontal=True, key="sw_method")
    default_grid = list(cfg.sae_sparsities) if cfg else list(DEFAULT_SAE_SWEEP)
    grid = s[1].multiselect("Swept SAE sparsities", sorted(set(DEFAULT_SAE_SWEEP) | set(default_grid)), default=default_grid,
                            format_func=lambda v: f"{v:.0%}", key="sw_grid")
    tokens = s[2].number_input("Retraining tokens (0: no retrained SAE)", 0, 20_000_000, cfg.retrain_tokens if cfg else 0,
                               step=100_000, key="sw_retrain", help=spec_help(TrainSpec, "training_tokens"))
if not layers:
    st.info("Pick at least one layer.")
    st.stop()
try:
    spec = SweepSpec(compression=compress, sites=(site,), layers=tuple(sorted(layers)), sae_sparsities=tuple(sorted(grid)),
                     sae_prune_method=method, retrain=TrainSpec(training_tokens=tokens) if tokens else None, eval=current_eval_spec())
except ValueError as exc:
    st.error(str(exc))
    st.stop()

def _job_key(sweep: SweepSpec) -> str:
    return f"sweep:{bench.store.root}:{bench.model_key}:{sweep}"


def _start_sweep(sweep: SweepSpec, label: str) -> None:
    ray = current_executor()
    jobs.start(_job_key(sweep), label + (f" on Ray ({ray.address})" if ray else ""),
               lambda p: execute.sweep(bench, sweep, p, ray))


all_sites = replace(spec, sites=sites)
keys = sweep_keys(bench, spec, list(spec.layers))
fig_rows = read_runs(bench, sweep_keys(bench, all_sites, list(spec.layers)))  # one read serves this site and Figure 1
rows = fig_rows[fig_rows["run_key"].isin(set(keys))]
have, n_keys = rows["run_key"].nunique(), len(set(keys))
status = st.columns([3, 1])
status[0].caption(f"{have} of {n_keys} results of this sweep are in the cache"
                  + (" (all of them)." if have >= n_keys else "; the rest takes a run (resumable)."))
if have < n_keys and status[1].button("Run the sweep", type="primary", key="sw_run", width="stretch",
                                      help="Computes what is missing in the background; finished parts stay cached."):
    _start_sweep(spec, f"sweep {compress.label()} {site}")
jobs.job_panel(_job_key(spec))

tab_slider, tab_fig1, tab_table = st.tabs(["Sliders per layer", "Figure 1 layout (all sites)", "Table"])
swept = rows[rows["site"].notna()]
with tab_slider:
    if swept.empty:
        st.info("Nothing of this sweep is cached yet: run it above (about 15 s per layer on the embedded default).")
    else:
        best = swept[(swept["variant"] == "pruned_best") & (swept["metric"] == metric)]
        start = {int(r.layer): float(r.sae_sparsity) for r in best.itertuples()}
        ready = [layer for layer in spec.layers if (swept["layer"] == layer).any()]
        if len(ready) < len(spec.layers):
            st.caption(f"Layers {', '.join(str(l) for l in spec.layers if l not in ready)}: not cached yet (run the sweep).")
        explorer(bench, spec, site, ready, metric, swept, start)
with tab_fig1:
    missing = [s for s in sites if s not in set(fig_rows["site"].dropna())]
    if missing:
        st.caption(f"Not cached yet for {', '.join(missing)}.")
        if st.button("Run the sweep for every site", key="sw_run_all"):
            _start_sweep(all_sites, f"sweep {compress.label()} (all sites)")
        jobs.job_panel(_job_key(all_sites))
    if fig_rows["site"].notna().any():
        fig1_rows = fig_rows[fig_rows["metric"] == "ce_loss_with_sae"].drop(columns=["run_key"])
        show_figure(figure1(fig_rows), f"Figure 1 layout, {compress.label()}", data=fig1_rows,
                    specs={"compression": compress.label(), "sae_sparsities": list(spec.sae_sparsities), "layers": list(spec.layers)},
                    cli=[sweep_command(all_sites)], key="fig1")
with tab_table:
    if len(rows):
        table = variant_table(swept.assign(eval=swept["site"] + " L" + swept["layer"].astype("Int64").astype(str)))
        table = table.rename(columns={"eval": "unit"})
        st.dataframe(table, hide_index=True, width="stretch")
        table_exports(rows.drop(columns=["run_key"]), f"sweep-{compress.label()}-{site}")
