"""The compression-engine commands of `python -m saeviz`: compress, prune-sae, train-sae, sweep."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from saeviz.cli.options import compress_spec, eval_spec, run_on_ray, train_spec, workbench
from saeviz.jobs import tqdm_progress
from saeviz.report.export import export_table
from saeviz.sae.variants import VariantSpec
from saeviz.specs import CHECKPOINT, DENSE, BestRule, site_hook

# The parser imports this module for every command, --help included: the pipeline (torch, ~2.5 s) is
# imported by the commands themselves.

SUMMARY_METRICS = ["mse", "explained_variance", "cossim", "l0", "ce_loss_score", "kl_div_with_sae"]


def _wide(rows: pd.DataFrame) -> pd.DataFrame:
    """Long metric rows -> one row per (site, layer, variant, sae_sparsity), summary metrics as columns."""
    rows = rows.dropna(subset=["site"])
    if rows.empty:
        return rows
    wide = rows.pivot_table(index=["site", "layer", "variant", "sae_sparsity"], columns="metric", values="value", dropna=False)
    wide = wide.dropna(how="all")
    return wide[[m for m in SUMMARY_METRICS if m in wide.columns]].reset_index()


def cmd_compress(args) -> int:
    # lazy: torch loads when a command runs, not when the parser is built
    from saeviz.pipeline.runner import model_ce

    bench, spec = workbench(args), compress_spec(args)
    bench.compressed(spec, progress=tqdm_progress(f"compress {spec.label()}"))
    stats = bench.store.compress_stats(bench.compress_key(spec))
    if len(stats):
        # a checkpoint may be pruned, quantized or both: show what it measures as
        columns = ["sparsity", "quant_error"] if spec.method == CHECKPOINT else ["quant_error" if spec.quantizes else "sparsity"]
        for column in columns:
            print(f"{column} per layer and matrix ({spec.label()}):")
            print(stats.pivot(index="layer", columns="matrix", values=column).round(4).to_string())
    ev = eval_spec(args)
    dense, comp = model_ce(bench, DENSE, ev), model_ce(bench, spec, ev)
    print(f"eval CE (nats, {ev.n_sequences} sequences): dense {dense:.4f} (perplexity {math.exp(dense):.2f})  "
          f"{spec.label()} {comp:.4f} (perplexity {math.exp(comp):.2f}), +{comp - dense:.4f}")
    return 0


def cmd_export_hf(args) -> int:
    # lazy: torch loads when a command runs, not when the parser is built
    from saeviz.model.export import export_hf

    bench, spec = workbench(args), compress_spec(args)
    model = bench.compressed(spec, progress=tqdm_progress(f"compress {spec.label()}"))
    out = export_hf(model, Path(args.out), variant=spec.label())
    print(f"{spec.label()} {model.cfg.model_name} written to {out} as a Hugging Face OPT checkpoint "
          "(transformers: AutoModelForCausalLM.from_pretrained; saeviz: --model DIR).")
    return 0


def _summary(rows: pd.DataFrame) -> pd.DataFrame:
    # lazy: torch loads when a command runs, not when the parser is built
    from saeviz.pipeline.runner import wide

    table = wide(rows).set_index("metric")
    return table.loc[[m for m in SUMMARY_METRICS if m in table.index]].drop(columns=["eval", "item"])


def cmd_prune_sae(args) -> int:
    # lazy: torch loads when a command runs, not when the parser is built
    from saeviz.pipeline.runner import evaluate
    from saeviz.pipeline.sae_variants import variant_sae

    bench, comp, ev = workbench(args), compress_spec(args), eval_spec(args)
    pruned = VariantSpec("pruned", args.sae_sparsity, args.sae_method)
    site, layer = args.site, args.layer
    rows = pd.concat([evaluate(bench, comp, v, site, layer, "core", ev) for v in (VariantSpec("pretrained"), pruned)])
    print(f"{site_hook(site, layer)} on {comp.label()}:")
    print(_summary(rows).to_string())
    if args.out:
        variant_sae(bench, comp, site, layer, pruned).save_model(args.out)
        print(f"pruned SAE saved to {args.out} (sae_lens format)")
    return 0


def cmd_train_sae(args) -> int:
    # lazy: torch loads when a command runs, not when the parser is built
    import shutil

    from saeviz.pipeline.runner import evaluate
    from saeviz.pipeline.sae_variants import retrained_sae
    from saeviz.store import keys

    bench, comp, ev, train = workbench(args), compress_spec(args), eval_spec(args), train_spec(args)
    if train is None:
        raise ValueError("--train-tokens must be positive for train-sae.")
    where = [(site, layer) for layer in args.layer for site in args.site]
    bench.check_units(args.site, args.layer)

    def stages():
        # lazy: the cluster package loads only with --ray
        from saeviz.cluster.plans import train_stages

        return train_stages(bench, comp, where, train, ev)

    on_ray = run_on_ray(args, bench, stages, "train-sae")
    for site, layer in where:
        if len(where) > 1:
            print(f"\n{site} layer {layer}:")
        key = keys.retrained_key(bench.compress_key(comp), bench.sae_spec(site, layer).label(), train)
        if not on_ray:
            retrained_sae(bench, comp, site, layer, train, progress=tqdm_progress(f"train {site} L{layer}"))
        rows = evaluate(bench, comp, VariantSpec("retrained", train=train), site, layer, "core", ev)
        print(_summary(rows).to_string())
        timing = bench.store.timings("retrain")
        timing = timing[timing["job_key"] == key] if len(timing) else timing
        if len(timing):
            last = timing.iloc[-1]
            print(f"training wall time: {last['seconds']:.1f} s for {int(last['tokens']):,} tokens")
        if args.out:  # the trained folder as the cache holds it (sae_lens format): no model load to copy it
            out = Path(args.out) / f"{site}_{layer}" if len(where) > 1 else Path(args.out)
            shutil.copytree(bench.store.sae_dir(key) / "final", out, dirs_exist_ok=True)
            print(f"retrained SAE saved to {out} (sae_lens format)")
    return 0


def cmd_sweep(args) -> int:
    # lazy: torch loads when a command runs, not when the parser is built
    from saeviz.pipeline.sweep import SweepSpec, run_sweep

    bench = workbench(args)
    first = args.layers[0] if args.layers else 0
    sites = tuple(s.strip() for s in args.sites.split(",") if s.strip()) if args.sites else bench.sites(first)
    spec = SweepSpec(
        compression=compress_spec(args), sites=sites, layers=args.layers,
        sae_sparsities=args.sae_sparsities, sae_prune_method=args.sae_method, retrain=train_spec(args),
        eval=eval_spec(args), best=BestRule(tolerance=args.tolerance, pick=args.pick),
    )
    def stages():
        # lazy: the cluster package loads only with --ray
        from saeviz.cluster.plans import sweep_stages

        return sweep_stages(bench, spec)

    on_ray = run_on_ray(args, bench, stages, "sweep")
    rows = run_sweep(bench, spec, progress=None if on_ray else tqdm_progress("sweep"))  # on Ray: read back
    print("; ".join(f"{site} = {bench.sae_hook(site, first).replace(f'blocks.{first}.', 'blocks.{layer}.')}" for site in sites))
    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print(_wide(rows).round(4).to_string(index=False))
    if args.export:
        print(f"wrote {export_table(rows, args.export)} ({len(rows)} rows)")
    return 0
