"""What the cache already holds for a page's choices, without computing anything: every run key is
derived from the specs exactly as saeviz.pipeline.runner derives it, and the rows are read from the
cache plus the shipped demo data. Plain functions (no Streamlit) so that they are tested directly."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from saeviz.evals import get_evaluation
from saeviz.sae.variants import VariantSpec
from saeviz.specs import DENSE, CompressSpec, EvalSpec
from saeviz.store import demo
from saeviz.store.keys import model_ce_key as ce_key

SLIDER_GRID = tuple(round(i / 100, 2) for i in range(100))  # SAE sparsities a slider can take


def read_runs_uncached(root: str, keys: list[str]) -> pd.DataFrame:
    # lazy: saeviz.store.db pulls in torch, which importing ui.reads does without
    from saeviz.store.db import METRIC_COLUMNS, Store

    stored = Store(Path(root)).metrics_for_runs(keys)
    missing = set(keys) - set(stored["run_key"])
    shipped = demo.shipped_rows(missing) if missing else stored.iloc[:0]
    frames = [f for f in (stored, shipped) if len(f)]
    return pd.concat(frames, ignore_index=True)[METRIC_COLUMNS] if frames else pd.DataFrame(columns=METRIC_COLUMNS)


def compress_stats_uncached(root: str, compress_key: str) -> pd.DataFrame:
    # lazy: saeviz.store.db pulls in torch, which importing ui.reads does without
    from saeviz.store.db import Store

    stats = Store(Path(root)).compress_stats(compress_key)
    return stats if len(stats) else demo.shipped_compress_stats(compress_key)


def run_key(bench, compress: CompressSpec, site: str, layer: int, variant: VariantSpec, name: str = "core", spec=None) -> str:
    # lazy: saeviz.pipeline.runner pulls in torch, which importing ui.reads does without
    from saeviz.pipeline.runner import run_key as runner_key

    spec = spec if spec is not None else get_evaluation(name).spec_cls()
    return runner_key(bench, compress, site, layer, variant, name, spec)


def model_ce_key(bench, compress: CompressSpec, eval_spec: EvalSpec) -> str:
    return ce_key(bench.compress_key(compress), eval_spec)


def model_ce(rows: pd.DataFrame) -> float | None:
    hit = rows[(rows["variant"] == "model") & (rows["metric"] == "ce_loss")]
    return float(hit["value"].iloc[0]) if len(hit) else None


def sweep_keys(bench, spec, layers: list[int]) -> list[str]:
    """Every run key of a sweep (model CE of dense and compressed, then each unit's variants)."""
    # lazy: saeviz.pipeline.sweep pulls in torch, which importing ui.reads does without
    from saeviz.pipeline.sweep import unit_variants

    keys = [model_ce_key(bench, DENSE, spec.eval), model_ce_key(bench, spec.compression, spec.eval)]
    for site in spec.sites:
        for layer in layers:
            keys += [run_key(bench, spec.compression, site, layer, v, "core", spec.eval) for v in unit_variants(spec)]
    return keys


def grid_keys(bench, compress: CompressSpec, site: str, layer: int, method: str, eval_spec: EvalSpec,
              grid=SLIDER_GRID) -> dict[str, float]:
    """{run key: sparsity} of a pruned SAE at every slider position (the points computed on demand)."""
    return dict(_grid_keys(bench, compress, site, layer, method, eval_spec, tuple(grid)))


@lru_cache(maxsize=256)
def _grid_keys(bench, compress, site, layer, method, eval_spec, grid) -> tuple[tuple[str, float], ...]:
    # 100 keys cost ~10 ms: worth keeping across a slider's reruns (a bench's keys never change)
    return tuple((run_key(bench, compress, site, layer, VariantSpec("pruned", s, method), "core", eval_spec), s) for s in grid)


def value_at(rows: pd.DataFrame, metric: str, variant: str, sae_sparsity: float | None = None) -> float | None:
    """A unit's scalar metric for one variant (for 'pruned': at that sparsity); None when not there."""
    hit = rows[(rows["metric"] == metric) & (rows["variant"] == variant) & (rows["item"].fillna("") == "")]
    if sae_sparsity is not None:
        hit = hit[(hit["sae_sparsity"] - sae_sparsity).abs() < 1e-9]
    if hit.empty and variant == "pruned" and sae_sparsity == 0:
        return value_at(rows, metric, "pretrained")  # one run: pruned at 0% is the pretrained SAE
    return float(hit["value"].iloc[0]) if len(hit) else None


def variant_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Tidy rows -> one row per (eval, item, metric), one column per variant label (pruned25, ...)."""
    # lazy: saeviz.pipeline.runner pulls in torch, which importing ui.reads does without
    from saeviz.pipeline.runner import wide

    return wide(rows, item=None) if len(rows) else pd.DataFrame(columns=["eval", "item", "metric"])
