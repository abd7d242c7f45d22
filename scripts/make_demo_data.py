"""Compute the demo mode's shipped results on the embedded default through saeviz and write them to
saeviz/store/demo_data/ (or --out). Work already in the cache is read back, so a rerun after an interruption
resumes.

    .venv/bin/python scripts/make_demo_data.py --size small     # resid + mlp, 5 SAE sparsities, 200k-token retraining
    .venv/bin/python scripts/make_demo_data.py --size full      # every site, the default sweep, 1M-token retraining
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def main(argv: list[str] | None = None) -> int:
    from saeviz.jobs import tqdm_progress
    from saeviz.pipeline.demo_build import build_demo_data
    from saeviz.pipeline.workbench import Workbench
    from saeviz.specs import ModelSpec
    from saeviz.store.db import Store
    from saeviz.store.demo import DEMO_DIR, FULL, SMALL

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=("small", "full"), default="small")
    p.add_argument("--out", type=Path, default=DEMO_DIR, help="Folder to write (default: saeviz/demo_data).")
    p.add_argument("--cache-dir", type=Path, default=None, help="Cache to compute in (default: $SAEVIZ_CACHE_DIR or ./cache).")
    args = p.parse_args(argv)
    bench = Workbench(ModelSpec(), Store(args.cache_dir) if args.cache_dir else Store())
    info = build_demo_data(bench, SMALL if args.size == "small" else FULL, args.out, tqdm_progress("demo data"))
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
