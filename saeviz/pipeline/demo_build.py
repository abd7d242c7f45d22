"""Building the shipped demo data (saeviz/store/demo_data/): a sweep, layer-wise overlays of other
compressions and the evaluation suite, computed through saeviz (cached work is read back) and written
as the files ``saeviz.store.demo`` serves. ``scripts/make_demo_data.py`` is its command."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from safetensors.torch import save_file

from saeviz.embedded import fingerprint
from saeviz.evals import EVALS, get_evaluation
from saeviz.pipeline.info import default_sae_specs, load_summary
from saeviz.pipeline.runner import evaluate, evaluate_suite, model_ce
from saeviz.pipeline.sweep import SweepSpec, run_sweep
from saeviz.sae.variants import VariantSpec, paper_variants
from saeviz.specs import DENSE, CompressSpec, EvalSpec, TrainSpec, middle_layer
from saeviz.store.demo import DemoSettings, pack_masks
from saeviz.store.keys import RESULTS_VERSION


def compute_seconds(bench, compressions, rows, cfg: DemoSettings, layers) -> dict[str, float]:
    """What computing the shipped results took when they were first computed (the cache's timings)."""
    t = bench.store.timings()
    if t.empty:
        return {}
    units = {f"{c.label()} {s} L{layer}" for c in compressions for s in cfg.sites for layer in layers}
    keys = set(rows["run_key"]) | {bench.compress_key(c) for c in compressions}
    parts = {"compression": t[(t["kind"] == "compress") & t["job_key"].isin(keys)],
             "evaluations": t[t["kind"].str.startswith("eval:") & t["job_key"].isin(keys)],
             "retraining": t[(t["kind"] == "retrain") & t["label"].isin(units)]}
    return {k: round(float(v["seconds"].sum()), 1) for k, v in parts.items()}



def _variant(text: str, train):
    return VariantSpec.parse(text, train=train)


def build_demo_data(bench, cfg: DemoSettings, out: Path, progress=None) -> dict:
    """Compute everything the demo shows through saeviz (cached work is read back) and write the files."""
    start = time.perf_counter()
    first_run = len(bench.run_keys)
    n_layers = bench.base_model.cfg.n_layers
    layers = cfg.layers or tuple(range(n_layers))
    eval_spec = EvalSpec(n_sequences=cfg.eval_sequences)
    train = TrainSpec(training_tokens=cfg.retrain_tokens) if cfg.retrain_tokens else None
    main = CompressSpec.parse(cfg.compression)
    sweep = SweepSpec(compression=main, sites=cfg.sites, layers=layers, sae_sparsities=cfg.sae_sparsities,
                      retrain=train, eval=eval_spec)
    timings = {}
    run_sweep(bench, sweep, progress)
    timings["sweep_s"] = time.perf_counter() - start
    compressions = [main] + [CompressSpec.parse(c) for c in cfg.overlays]
    for comp in compressions[1:]:
        model_ce(bench, comp, eval_spec)
        for site in cfg.overlay_sites or cfg.sites:
            for layer in layers:
                for v in cfg.overlay_variants:
                    evaluate(bench, comp, _variant(v, train), site, layer, "core", eval_spec, progress)
    timings["overlays_s"] = time.perf_counter() - start - timings["sweep_s"]
    names = [n for n in EVALS if n not in ("core", "sae_bench_core")] if cfg.evals == ("all",) else [n for n in cfg.evals if n in EVALS]
    names = [n for n in names if not (get_evaluation(n).needs_world and bench.world() is None)]
    eval_layer = cfg.eval_layer if cfg.eval_layer >= 0 else middle_layer(n_layers)
    variants = [_variant("dense", None)] + paper_variants(train)[: 4 if train else 3]
    for name in names:
        evaluate_suite(bench, main, cfg.eval_site, eval_layer, variants, [name], progress=progress)
    timings["evals_s"] = time.perf_counter() - start - timings["sweep_s"] - timings["overlays_s"]

    out.mkdir(parents=True, exist_ok=True)
    rows = bench.store.metrics_for_runs(bench.run_keys[first_run:])
    rows.to_parquet(out / "metrics.parquet", index=False)
    stats = pd.concat([bench.store.compress_stats(bench.compress_key(c)) for c in [DENSE, *compressions]], ignore_index=True)
    stats.to_parquet(out / "compress_stats.parquet", index=False)
    tensors, meta = {}, {}
    for comp in compressions:
        masks = bench.store.get_tensors("model_masks", bench.compress_key(comp)) if not comp.quantizes else None
        if masks:
            packed, shapes = pack_masks(masks)
            key = bench.compress_key(comp)
            tensors.update({f"{key}/{k}": v for k, v in packed.items()})
            meta.update({f"{key}/{k}": s for k, s in shapes.items()})
    save_file(tensors, str(out / "masks.safetensors"), metadata=meta)
    summary_data = load_summary(bench.model_spec, default_sae_specs(bench.model_spec), model=bench.base_model)
    (out / "summary.json").write_text(json.dumps(summary_data, indent=1, default=str))
    info = {"fingerprint": fingerprint(), "results_version": RESULTS_VERSION, "settings": asdict(cfg), "evals": names,
            "eval_layer": eval_layer, "rows": len(rows), "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "seconds": {k: round(v, 1) for k, v in timings.items()},  # this run (cached work is read back, not redone)
            "compute_seconds": compute_seconds(bench, compressions, rows, cfg, layers)}
    (out / "manifest.json").write_text(json.dumps(info, indent=1))
    return info
