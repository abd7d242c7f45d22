"""Layer-wise curves: any core metric against layer, one panel per site, one line per SAE variant, with
several compressions overlaid (the layout of the paper's appendix figures)."""

import pandas as pd
import streamlit as st

from saeviz.pipeline.runner import evaluate
from saeviz.report.plots import METRIC_LABELS, layerwise_figure, metric_label
from saeviz.sae.variants import VariantSpec
from saeviz.specs import DEFAULT_SAE_SWEEP
from saeviz.store import demo
from ui import jobs
from ui.cached import page_sites, page_workbench, read_runs, site_name
from ui.cli_text import compress_flags
from ui.controls import compressions_multi, default_compression
from ui.export_ui import show_figure
from ui.reads import run_key
from ui.sidebar import current_eval_spec

VARIANTS = ["dense", "pretrained", "pruned25", "pruned50", "pruned75", "pruned_best", "retrained"]

st.title("Layer-wise curves")
st.caption("Each panel is a site; each colour an SAE variant; each dash and marker a compression.")
bench, n_layers = page_workbench()
cfg = demo.settings()

c = st.columns([2, 1.4, 1.4])
with c[0]:
    # two overlays by default: with every shipped one (4) the 12 curves per panel cannot be told apart
    default = [default_compression()] + (list(cfg.overlays[:2]) if cfg else [])
    compressions = compressions_multi("Compressions (overlaid)", "ly_comps", default)
metrics = list(METRIC_LABELS)
metric = c[1].selectbox("Metric", metrics, index=metrics.index("explained_variance"), format_func=metric_label, key="ly_metric")
available = page_sites(bench)
sites = c[2].multiselect("Sites", available, key="ly_sites", format_func=lambda s: site_name(bench, s),
                         default=[s for s in ((cfg.overlay_sites or cfg.sites) if cfg else available) if s in available])
default_variants = list(cfg.overlay_variants) if cfg else ["dense", "pretrained", "pruned25", "pruned50"]
labels = st.multiselect("SAE variants", VARIANTS, default=default_variants, key="ly_variants")
train = demo.retrain_spec()
grid = cfg.sae_sparsities if cfg else DEFAULT_SAE_SWEEP
variants = {label: (VariantSpec.parse(label, train=train) if label != "pruned_best"
                    else VariantSpec("pruned_best", train=train, sweep=grid)) for label in labels}
eval_spec = current_eval_spec()
if not (compressions and sites and labels):
    st.info("Pick at least one compression, site and variant.")
    st.stop()

wanted = [(comp, site, layer, label) for comp in compressions for site in sites for layer in range(n_layers) for label in labels]
keyed = pd.DataFrame([{"run_key": run_key(bench, comp, site, layer, variants[label], "core", eval_spec),
                       "compression_": comp.label(), "label": label} for comp, site, layer, label in wanted])
rows = read_runs(bench, list(keyed["run_key"].unique()))
# the dense reference is one run shared by every compression: drawn once, under compression 'dense'
data = rows.merge(keyed, on="run_key").drop(columns=["compression"]).rename(columns={"compression_": "compression"})
data.loc[data["label"] == "dense", "compression"] = "dense"
data = data.drop_duplicates(["run_key", "compression", "label", "item", "metric"])
have = set(rows["run_key"])
missing = [w for w, k in zip(wanted, keyed["run_key"]) if k not in have]
if missing:
    st.caption(f"{len(missing)} of {len(wanted)} (compression, site, layer, variant) results are not cached"
               + ("; retrained variants train an SAE each (minutes)." if "retrained" in labels else "."))
    job_key = f"layers:{bench.store.root}:{bench.model_key}:{sorted(map(str, missing))}"

    def _work(progress):
        for i, (comp, site, layer, label) in enumerate(missing):
            progress(i, len(missing), f"{comp.label()} {site} L{layer} {label}")
            evaluate(bench, comp, variants[label], site, layer, "core", eval_spec)
        progress(len(missing), len(missing), "done")

    if st.button(f"Compute the {len(missing)} missing", type="primary", key="ly_run"):
        jobs.start(job_key, "layer-wise results", _work)
    jobs.job_panel(job_key)
if data.empty:
    st.info("Nothing cached for these choices yet.")
    st.stop()
title = f"{metric_label(metric)} per layer: " + " vs ".join(c.label() for c in compressions)
cli = [f"python -m saeviz sweep {compress_flags(comp)} --sites {','.join(sites)} --sae-sparsities 0,0.25,0.5 "
       f"--eval-sequences {eval_spec.n_sequences} --train-tokens {train.training_tokens if 'retrained' in labels else 0}" for comp in compressions]
show_figure(layerwise_figure(data, metric, n_layers=n_layers), title, data=data[data["metric"] == metric].drop(columns=["run_key"]),
            specs={"compressions": [c.label() for c in compressions], "sites": sites, "variants": labels, "metric": metric,
                   "eval_sequences": eval_spec.n_sequences, "retrain_tokens": train.training_tokens}, cli=cli, key="layers")
