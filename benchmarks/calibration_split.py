"""CE of the dense, 50%-WANDA and 50%-magnitude embedded models on prose and on toy-world eval rows.

    .venv/bin/python -m benchmarks.calibration_split [--rows 256]

WANDA's masks depend on its calibration activations, magnitude's do not: the split shows what the
calibration set covers (the shipped one mixes 96 prose and 32 toy-world rows).
"""

import argparse

import torch
from safetensors.torch import load_file

from saeviz.embedded import ASSETS_DIR
from saeviz.model.loss import ce_loss
from saeviz.pipeline.workbench import Workbench
from saeviz.specs import DENSE, CompressSpec, ModelSpec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=256, help="eval rows (the first N of the shipped eval set)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    data = load_file(str(ASSETS_DIR / "data" / "eval.safetensors"))
    rows, toy = data["input_ids"][: args.rows].long(), data["is_toyworld"][: args.rows].bool()
    bench = Workbench(ModelSpec(device="cpu"))
    print(f"{'model':16s} {'CE prose':>9s} {'CE toy world':>13s}   ({int((~toy).sum())} prose, {int(toy.sum())} toy rows)")
    for spec in (DENSE, CompressSpec(method="wanda", sparsity=0.5), CompressSpec(method="magnitude", sparsity=0.5)):
        model = bench.compressed(spec)
        print(f"{spec.label():16s} {ce_loss(model, rows[~toy], 64):9.4f} {ce_loss(model, rows[toy], 64):13.4f}")


if __name__ == "__main__":
    main()
