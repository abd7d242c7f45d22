"""The issue-4 figures on the embedded default, printed as tables (and the sweep curves as HTML).

    .venv/bin/python -m benchmarks.compression_figures [--eval-sequences 256] [--html sweep.html]

Model CE on the evaluation set for dense, 50% WANDA, 50% magnitude (per row and per matrix),
2:4 WANDA and round-to-nearest int8/int4; then an SAE sparsity sweep (WANDA-pruned SAEs on the
50%-WANDA model) per site and layer. Everything goes through the cache: a rerun is instant.
"""

import argparse
import time

import pandas as pd

from saeviz.jobs import tqdm_progress
from saeviz.pipeline.runner import model_ce
from saeviz.pipeline.sweep import SweepSpec, run_sweep
from saeviz.pipeline.workbench import Workbench
from saeviz.specs import DENSE, CompressSpec, EvalSpec, ModelSpec
from saeviz.store.db import Store

VARIANTS = [
    DENSE,
    CompressSpec(method="wanda", sparsity=0.5),
    CompressSpec(method="magnitude", sparsity=0.5),
    CompressSpec(method="magnitude_global", sparsity=0.5),
    CompressSpec(method="wanda", n_m=(2, 4)),
    CompressSpec(method="wanda", sparsity=0.3),
    CompressSpec(method="magnitude", sparsity=0.3),
    CompressSpec(method="rtn", bits=8, group_size=128),
    CompressSpec(method="rtn", bits=4, group_size=128),
    CompressSpec(method="rtn", bits=4, group_size=128, symmetric=False),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--eval-sequences", type=int, default=256)
    parser.add_argument("--html", default=None, help="Write the sweep curves (MSE per site) to this HTML file.")
    parser.add_argument("--no-sweep", action="store_true")
    args = parser.parse_args()
    bench = Workbench(ModelSpec(), Store())
    ev = EvalSpec(n_sequences=args.eval_sequences)
    rows = []
    for spec in VARIANTS:
        start = time.perf_counter()
        bench.compressed(spec)
        ce = model_ce(bench, spec, ev)
        rows.append({"compression": spec.label(), "ce_loss": ce, "seconds (compress+eval, or cached)": time.perf_counter() - start})
    table = pd.DataFrame(rows)
    table["delta_vs_dense"] = table["ce_loss"] - table.loc[0, "ce_loss"]
    print(f"\nEval CE loss (nats) on {ev.n_sequences} evaluation sequences of the embedded default:")
    print(table.round(4).to_string(index=False))
    if args.no_sweep:
        return
    sweep = SweepSpec(compression=VARIANTS[1], eval=EvalSpec(n_sequences=64))
    metrics = run_sweep(bench, sweep, progress=tqdm_progress("sweep"))
    pruned = metrics[(metrics.variant.isin(["pruned", "pretrained", "dense"])) & (metrics.metric.isin(["mse", "explained_variance"]))]
    with pd.option_context("display.width", 250, "display.max_columns", 100):
        for metric in ("explained_variance", "mse"):
            print(f"\n{metric} of WANDA-pruned SAEs on the 50%-WANDA model, by SAE sparsity:")
            block = pruned[pruned.metric == metric]
            print(block[block.variant == "pruned"].pivot_table(index=["site", "layer"], columns="sae_sparsity", values="value").round(4).to_string())
    if args.html:
        from saeviz.report.plots import sweep_curves_figure

        sweep_curves_figure(metrics, "mse").write_html(args.html, include_plotlyjs=True)
        print(f"wrote {args.html}")


if __name__ == "__main__":
    main()
