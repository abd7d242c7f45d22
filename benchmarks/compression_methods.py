"""The README's table of compression methods on the embedded default: model CE and how well the pretrained
SAEs transfer (explained variance and CE-loss score, averaged over every site and layer), side by side.

usage: .venv/bin/python -m benchmarks.compression_methods [--cache-dir DIR] [COMPRESSION ...]
"""

import argparse

import pandas as pd

from saeviz.pipeline.runner import evaluate, model_ce
from saeviz.pipeline.workbench import Workbench
from saeviz.sae.variants import VariantSpec
from saeviz.specs import DENSE, SITES, CompressSpec, EvalSpec, ModelSpec
from saeviz.store.db import Store

DEFAULT = ["dense", "wanda-50%", "sparsegpt-50%", "wanda-2:4", "sparsegpt-2:4", "rtn-int4-g128", "gptq-int4-g128",
           "rtn-int4-g32", "gptq-int4-g32", "rtn-int3-g128", "gptq-int3-g128"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("compressions", nargs="*", default=DEFAULT)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    bench = Workbench(ModelSpec(device="cpu"), Store(args.cache_dir))
    ev = EvalSpec()
    rows = []
    for label in args.compressions:
        spec = CompressSpec.parse(label)
        per_sae = pd.concat([evaluate(bench, spec, VariantSpec("pretrained"), site, layer, "core", ev)
                             for site in SITES for layer in range(bench.n_layers())])
        mean = per_sae.groupby("metric")["value"].mean()
        rows.append({"compression": spec.label(), "model CE": model_ce(bench, spec, ev),
                     "+CE vs dense": model_ce(bench, spec, ev) - model_ce(bench, DENSE, ev),
                     "SAE explained variance": mean["explained_variance"], "SAE CE-loss score": mean["ce_loss_score"]})
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4f"))


if __name__ == "__main__":
    main()
