"""Evaluations: core metrics, absorption, RAVEL per entity-attribute pair, SCR/TPP, probing; the SAE
variants side by side as tables (best value per row highlighted) and grouped bar charts, with the
paper's published numbers as a toggle where its setting has them."""

import streamlit as st

from saeviz.cluster import run as execute
from saeviz.evals import EVALS, get_evaluation
from saeviz.sae.variants import VariantSpec
from saeviz.specs import middle_layer
from saeviz.store import demo
from ui import jobs
from ui.cached import page_sites, page_workbench, read_runs, site_name
from ui.cli_text import compress_flags
from ui.controls import compression_picker
from ui.eval_view import PAPER_PREFIX, paper_section, styled, variant_bars, with_paper
from ui.export_ui import table_exports
from ui.reads import run_key, variant_table
from ui.sidebar import current_eval_spec, current_executor

VARIANTS = ["dense", "pretrained", "pruned25", "pruned50", "pruned75", "retrained"]

st.title("Evaluations")
bench, n_layers = page_workbench()
cfg = demo.settings()
names = [n for n in EVALS if n != "sae_bench_core"] + ["sae_bench_core"]

c = st.columns([1.4, 0.8, 0.8, 1.4])
with c[0]:
    compress = compression_picker("Model compression", "ev_comp")
sites = page_sites(bench)
wanted = cfg.eval_site if cfg else "resid"
site = c[1].selectbox("Site", sites, index=sites.index(wanted) if wanted in sites else 0, key="ev_site",
                      format_func=lambda s: site_name(bench, s))
shipped_layer = (demo.manifest() or {}).get("eval_layer", middle_layer(n_layers))  # where the demo data ran the suite
layer = c[2].selectbox("Layer", list(range(n_layers)), index=min(int(shipped_layer), n_layers - 1), key="ev_layer")
name = c[3].selectbox("Evaluation", names, key="ev_name", help="; ".join(f"{n}: {get_evaluation(n).description}" for n in names))
evaluation = get_evaluation(name)
st.caption(evaluation.description)
default_variants = ["dense", "pretrained", "pruned25", "pruned50"] + (["retrained"] if cfg and cfg.retrain_tokens else [])
labels = st.multiselect("SAE variants", VARIANTS, default=default_variants, key="ev_variants")
train = demo.retrain_spec()
variants = [VariantSpec.parse(label, train=train) for label in labels]
spec = current_eval_spec() if name == "core" else evaluation.spec_cls()
show_paper = st.toggle("Show the paper's published numbers", key="ev_paper",
                       help="Gemma-2-2B layer 12, WANDA 50%: a different setting, shown for the direction of each effect.")
if not variants:
    st.info("Pick at least one SAE variant.")
    st.stop()

keys = {run_key(bench, compress, site, layer, v, name, spec): v for v in variants}
rows = read_runs(bench, list(keys))
have = set(rows["run_key"])
missing = [v for k, v in keys.items() if k not in have]
if missing:
    need_world = evaluation.needs_world and not bench.model_spec.is_embedded
    st.caption(f"Not cached yet: {', '.join(v.label() for v in missing)}."
               + (" This evaluation needs the embedded toy world (or an equivalent dataset)." if need_world else ""))
    job_key = f"evals:{bench.store.root}:{bench.model_key}:{compress}:{site}:{layer}:{name}:{[v.label() for v in missing]}"

    ray = current_executor()

    def _work(progress):
        return execute.evaluations(bench, compress, site, layer, missing, [name], {name: spec}, progress, ray)

    if st.button(f"Run {name} for {len(missing)} variant(s)", type="primary", key="ev_run"):
        jobs.start(job_key, f"{name} at {site} L{layer}" + (f" on Ray ({ray.address})" if ray else ""), _work)
    jobs.job_panel(job_key)

higher = evaluation.higher_is_better
specs = {"compression": compress.label(), "site": site, "layer": layer, "evaluation": name, "variants": labels,
         "spec": {k: getattr(spec, k) for k in spec.__dataclass_fields__}}
cli = [f"python -m saeviz evaluate {compress_flags(compress)} --site {site} --layer {layer} --variants {','.join(labels)} "
       f"--evals {name} --eval-sequences {current_eval_spec().n_sequences} --train-tokens {train.training_tokens}"]
if len(rows):
    table = variant_table(rows)
    shown = [v.label() for v in variants if v.label() in table]
    compared = [v for v in shown if v != "dense"] or shown  # the dense reference runs on another model
    table = table[["item", "metric", *shown]]
    paper = None
    if show_paper:
        table, paper = with_paper(table, "core" if name == "sae_bench_core" else name, site)
    st.subheader(f"{name} · {compress.label()} · {site} layer {layer}")
    config = {c: st.column_config.NumberColumn(c, help="the paper's value") for c in table if c.startswith(PAPER_PREFIX)}
    if not table["item"].fillna("").ne("").any():
        config["item"] = None  # a scalar-only evaluation: no item column
    st.dataframe(styled(table, compared, higher), hide_index=True, width="stretch", column_config=config)
    table_exports(table, f"{name}-{compress.label()}-{site}-L{layer}", key="ev_table")
    st.caption("Green: the best variant on the compressed model in each row (for metrics with a direction); "
               "dense is the reference on the uncompressed model.")
    variant_bars(table[["item", "metric", *shown]], shown, higher, f"{name}: SAE variants, {compress.label()}, {site} L{layer}",
                 "ev_bars", specs, cli, best_among=compared)
elif not missing:
    st.info("No rows.")
if show_paper:
    st.subheader("The paper's table")
    paper_section("core" if name == "sae_bench_core" else name, site, higher, "ev")
