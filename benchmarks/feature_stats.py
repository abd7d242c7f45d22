"""Feature-browser speed on the embedded default: every latent's statistics for one SAE variant, and
opening a latent from the cache with the page rendered.

    .venv/bin/python -m benchmarks.feature_stats [--site resid --layer 3 --variant pretrained --threads 1]

Prints: preparing the variant (compressing the model, pruning the SAE: other jobs, cached for later),
the statistics pass cold (hook activations computed by the model) and warm (activations read from the
cache, as for every further SAE variant on the same model), reading one latent's record, and the page
(AppTest, server side) rendering a latent from the cache. Uses a fresh cache folder unless --cache-dir.
The machine's load average is printed with the figures: its cores may be shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

APP = Path(__file__).resolve().parents[1] / "app.py"


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def page_render_seconds(params: dict, n_latents: int) -> tuple[float, list[float]]:
    """Seconds of the page's first run (loads the model once per process) and of each later run, each
    opening the next latent from the cache."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(APP), default_timeout=600)
    app.query_params = params
    _, first = _timed(lambda: app.switch_page("views/features.py").run())
    if app.exception:
        raise RuntimeError(app.exception)
    runs = []
    for _ in range(n_latents):
        button = app.button(key="fb_next")
        _, seconds = _timed(lambda: button.click().run())
        runs.append(seconds)
    return first, runs


def format_figure(name: str, value) -> str:
    """Seconds as seconds; the load average (and counts) as they are."""
    return f"{value:.3f} s" if isinstance(value, float) and name != "load average" else str(value)


def measure(short: bool = False, site: str = "resid", layer: int = 3, variant: str = "pretrained",
            compression: str = "wanda-50%", n_latents: int = 20, page: bool = True, cache: Path | None = None) -> dict:
    """Seconds of every step (see the module docstring) in a fresh cache folder; short: 8 sequences,
    layer 1, 3 latents (what CI can afford). page=False leaves out the Streamlit part."""
    from saeviz.features.stats import FeatureSpec
    from saeviz.pipeline import feature_jobs as fj
    from saeviz.pipeline.runner import sae_of
    from saeviz.pipeline.sae_variants import variant_model
    from saeviz.pipeline.workbench import Workbench
    from saeviz.sae.variants import VariantSpec
    from saeviz.specs import CompressSpec, ModelSpec
    from saeviz.store.db import Store

    cache = Path(cache or tempfile.mkdtemp(prefix="saeviz-feature-bench-"))
    os.environ["SAEVIZ_CACHE_DIR"] = str(cache)  # the page's workbench reads the same cache
    if short:
        layer, n_latents = 1, 3
    bench = Workbench(ModelSpec(), Store(cache))
    compress, var = CompressSpec.parse(compression), VariantSpec.parse(variant)
    spec = FeatureSpec(n_sequences=8 if short else None)
    where = (compress, site, layer, var)
    got = {}
    _, got["load model and tokens"] = _timed(lambda: (bench.base_model, bench.tokens("eval")))
    _, got["prepare the variant (compress, prune)"] = _timed(lambda: (variant_model(bench, compress, var), sae_of(bench, *where)))
    tables, got["statistics, cold (model pass + stats)"] = _timed(lambda: fj.feature_tables(bench, *where, spec))
    _, got["statistics, warm (cached activations)"] = _timed(lambda: fj.compute_tables(bench, *where, spec))
    got.update({"latents": len(tables.latents), "tokens": int(tables.arrays["n_kept"][0]), "torch threads": torch.get_num_threads(),
                "load average": round(os.getloadavg()[0], 1)})
    fresh = Workbench(ModelSpec(), Store(cache))
    read, got["open from the cache: read the tables"] = _timed(
        lambda: (fj.read_tables(fresh.store, fj.stats_key(fresh, *where, spec)), fj.vocabulary(fresh)))
    records = [_timed(lambda i=i: fj.latent_record(read[0], read[1], i))[1] for i in range(n_latents)]
    got["a latent's record (median)"] = statistics.median(records)
    if page:
        params = {"site": site, "layer": str(layer), "compression": compress.label(), "variant": var.label(), "latent": "0",
                  **({"n": str(spec.n_sequences)} if spec.n_sequences else {})}
        first, runs = page_render_seconds(params, n_latents)
        got["page, first run (loads the model)"] = first
        got["page, open a latent from the cache (median)"] = statistics.median(runs)
        got["page, open a latent from the cache (max)"] = max(runs)
    return got


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--site", default="resid")
    p.add_argument("--layer", type=int, default=3)
    p.add_argument("--variant", default="pretrained")
    p.add_argument("--compression", default="wanda-50%")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--latents", type=int, default=20, help="latents opened for the page and record timings")
    p.add_argument("--short", action="store_true", help="8 sequences, layer 1, 3 latents")
    p.add_argument("--cache-dir", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    got = measure(args.short, args.site, args.layer, args.variant, args.compression, args.latents, cache=args.cache_dir)
    print(f"{args.site} layer {args.layer if not args.short else 1}, {args.variant} SAE on {args.compression}:")
    for name, value in got.items():
        print(f"  {name:<48s} {format_figure(name, value)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
