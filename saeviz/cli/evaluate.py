"""`python -m saeviz evaluate`: the evaluation suite for SAE variants at one (site, layer), from the cache or computed."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd

from saeviz.cli.options import (
    add_compress_options,
    add_eval_options,
    add_model_options,
    add_ray_options,
    add_train_options,
    compress_spec,
    run_on_ray,
    workbench,
)
from saeviz.evals import parse_eval_names
from saeviz.jobs import tqdm_progress
from saeviz.report.build import ReportSpec, compute, jobs, write
from saeviz.sae.variants import VariantSpec
from saeviz.specs import SITES, EvalSpec, TrainSpec


def add_evaluate_command(sub) -> None:
    cmd = sub.add_parser("evaluate", help="Core metrics, absorption, RAVEL, SCR/TPP, probing for SAE variants (cached).")
    add_model_options(cmd), add_compress_options(cmd), add_eval_options(cmd)
    add_train_options(cmd, default_tokens=1_000_000)
    cmd.add_argument("--site", required=True, choices=SITES)
    cmd.add_argument("--layer", required=True, type=int)
    cmd.add_argument("--variants", default="pretrained,pruned25,pruned50,retrained",
                     help="Comma-separated: dense, pretrained, pruned<percent> (pruned25), pruned_best, retrained.")
    cmd.add_argument("--evals", default="core", help="Comma-separated evaluations (core, sae_bench_core, absorption, "
                                                     "ravel, scr, tpp, probing) or 'all'.")
    cmd.add_argument("--sae-method", default="wanda", help="How pruned variants prune the SAE: wanda or magnitude.")
    cmd.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                     help="Write the rows as JSON (to FILE, or to stdout when no FILE is given) instead of tables.")
    add_ray_options(cmd)
    cmd.set_defaults(func=cmd_evaluate)


def parse_variants(text: str, train, method: str = "wanda"):
    variants = []
    for word in (w for w in text.split(",") if w.strip()):
        v = VariantSpec.parse(word, train=train)
        variants.append(replace(v, prune_method=method) if v.kind in ("pruned", "pruned_best") else v)
    if not variants:
        raise ValueError("--variants is empty: name at least one, e.g. pretrained,pruned25.")
    return variants


def cmd_evaluate(args) -> int:
    # lazy: the parser is built for every command (--help too): saeviz.cli.options loads when its command runs
    from saeviz.cli.options import compress_spec, eval_spec, train_spec, workbench
    from saeviz.pipeline.runner import evaluate_suite, wide

    names = parse_eval_names(args.evals)
    variants = parse_variants(args.variants, train_spec(args), args.sae_method)
    bench, comp, specs = workbench(args), compress_spec(args), {"core": eval_spec(args)}
    bench.check_units((args.site,), (args.layer,))

    def stages():
        # lazy: the cluster package loads only with --ray
        from saeviz.cluster.plans import eval_stages

        return eval_stages(bench, comp, [(args.site, args.layer, name, tuple(variants), specs.get(name)) for name in names])

    # libraries print notes on stdout ("Moving model to device"): JSON on stdout must parse
    with contextlib.redirect_stdout(sys.stderr) if args.json == "-" else contextlib.nullcontext():
        on_ray = run_on_ray(args, bench, stages, "evaluate")
        rows = evaluate_suite(bench, comp, args.site, args.layer, variants, names, specs,
                              progress=None if on_ray else tqdm_progress(f"evaluate {args.site} L{args.layer}"))
    if args.json is not None:
        text = rows.to_json(orient="records", indent=1)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text)
            print(f"wrote {len(rows)} rows to {args.json}", file=sys.stderr)
        return 0
    print(f"{args.site} layer {args.layer}, model {bench.model_spec.name} compressed as {comp.label()}:")
    table = wide(rows, item=None)
    with pd.option_context("display.width", 200, "display.max_rows", 1000, "display.max_colwidth", 40):
        for name, part in table.groupby("eval", sort=False):
            print(f"\n[{name}]")
            print(part.drop(columns="eval").round(4).to_string(index=False))
    return 0


def add_report_command(sub) -> None:
    cmd = sub.add_parser("report", help="The reproduction report (Markdown + self-contained HTML): the paper's tables "
                                        "and Figure 1 on a compressed model; computes what the cache lacks.")
    add_model_options(cmd), add_compress_options(cmd)
    cmd.add_argument("--layer", type=int, default=None, help="Layer of the tables (default: the middle layer).")
    cmd.add_argument("--evals", default="absorption,ravel,scr,tpp", help="Evaluations besides core (comma-separated).")
    cmd.add_argument("--eval-sequences", type=int, default=64, help="Evaluation sequences for the core metrics.")
    cmd.add_argument("--train-tokens", type=int, default=1_000_000, help="Tokens to retrain the 'Trained' SAE on.")
    cmd.add_argument("--out", default="report", help="Output folder (report.md, report.html, rows.csv, specs.json).")
    add_ray_options(cmd)
    cmd.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    spec, bench = report_spec(args), workbench(args)

    def stages():
        # lazy: the cluster package loads only with --ray
        from saeviz.cluster.plans import eval_stages

        return eval_stages(bench, spec.compression, jobs(bench, spec))

    on_ray = run_on_ray(args, bench, stages, "report")
    data = compute(bench, spec, progress=None if on_ray else tqdm_progress(f"report {spec.compression.label()}"))
    paths = write(data, Path(args.out))
    print(Path(paths["markdown"]).read_text())
    print(f"wrote {', '.join(str(p) for p in paths.values())} ({data.seconds:.0f} s)")
    return 0


def report_spec(args) -> ReportSpec:
    return ReportSpec(compression=compress_spec(args), layer=args.layer, eval=EvalSpec(n_sequences=args.eval_sequences),
                      evals=tuple(e for e in args.evals.split(",") if e.strip()),
                      train=TrainSpec(training_tokens=args.train_tokens))
