"""Wall time of pruning an SAE against retraining one, measured side by side in one run.

    .venv/bin/python -m benchmarks.prune_vs_retrain [--site resid] [--layer 2] [--train-tokens 1000000]

Both start from the same 50%-WANDA embedded model. Pruning includes collecting its calibration
activations (128 sequences) and scoring both matrices; retraining runs sae_lens' trainer for the
token budget on activations computed on the fly. Nothing is read from the cache.
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch

from saeviz.evals.measure import reconstruct
from saeviz.evals.metrics import explained_variance
from saeviz.model.activations import collect_activations
from saeviz.pipeline.workbench import Workbench
from saeviz.sae.prune import prune_sae
from saeviz.sae.train import retrain_like
from saeviz.specs import CompressSpec, ModelSpec, SaePruneSpec, TrainSpec, site_hook
from saeviz.store.db import Store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", default="resid")
    parser.add_argument("--layer", type=int, default=2)
    parser.add_argument("--train-tokens", type=int, default=1_000_000)
    parser.add_argument("--sae-sparsity", type=float, default=0.5)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Workbench(ModelSpec(), Store(Path(tmp) / "cache"))
        comp = CompressSpec(method="wanda", sparsity=0.5)
        model = bench.compressed(comp)
        sae = bench.pretrained_sae(args.site, args.layer)
        hook = site_hook(args.site, args.layer)
        eval_acts = collect_activations(model, hook, bench.tokens("eval")[:64])

        start = time.perf_counter()
        calib = collect_activations(model, hook, bench.tokens("calibration"))
        pruned = prune_sae(sae, SaePruneSpec(method="wanda", sparsity=args.sae_sparsity), calib).sae
        prune_s = time.perf_counter() - start

        spec = TrainSpec(training_tokens=args.train_tokens, checkpoints=0)
        result = retrain_like(sae, model, bench.tokens("train"), spec, Path(tmp) / "train")
        train_s = result.seconds

    ev = {name: explained_variance(eval_acts, reconstruct(s, eval_acts)[0]) for name, s in
          (("pretrained", sae), (f"pruned {args.sae_sparsity:.0%}", pruned), ("retrained", result.sae))}
    print(f"{hook} on the 50%-WANDA embedded model ({torch.get_num_threads()} threads)")
    print(f"  prune SAE (WANDA, {args.sae_sparsity:.0%}, incl. calibration activations): {prune_s:8.2f} s")
    print(f"  retrain SAE ({args.train_tokens:,} tokens through sae_lens):            {train_s:8.2f} s")
    print(f"  retrain / prune wall-time ratio: {train_s / prune_s:,.0f}x")
    print("  explained variance on 64 eval sequences: " + ", ".join(f"{k} {v:.3f}" for k, v in ev.items()))


if __name__ == "__main__":
    main()
