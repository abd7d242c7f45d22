"""Demo mode: results precomputed on the embedded default, shipped as small files in saeviz/store/demo_data/,
so that a presenter never waits.

``saeviz.pipeline.demo_build.build_demo_data`` computes them through saeviz (a sweep, layer-wise overlays of other compressions,
the evaluation suite) and writes metrics.parquet, compress_stats.parquet, masks.safetensors (the model
pruning masks, bit-packed), summary.json and manifest.json. ``shipped_rows(keys)`` serves the shipped
metric rows under the same cache keys the pages ask for, and ``load_into_store`` copies them into a
cache. Both apply only while the embedded assets and RESULTS_VERSION are those the files were built
from: keys of a rebuilt model never match, so stale numbers are never served. The tour (saeviz/report/tour.py)
reads the files directly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from saeviz.embedded import fingerprint
from saeviz.specs import DEFAULT_SAE_SWEEP, SITES, TrainSpec, _help
from saeviz.store.keys import RESULTS_VERSION

DEMO_DIR = Path(__file__).resolve().parent / "demo_data"


def demo_dir() -> Path:
    """Where the shipped results are read from: $SAEVIZ_DEMO_DIR (tests point it at an empty folder), else DEMO_DIR."""
    return Path(os.environ.get("SAEVIZ_DEMO_DIR") or DEMO_DIR)
FILES = ("manifest.json", "metrics.parquet", "compress_stats.parquet", "masks.safetensors", "summary.json")


@dataclass(frozen=True)
class DemoSettings:
    """What the demo data holds; the pages open on these settings so that they show it at once."""

    compression: str = _help("The main compression (a label python -m saeviz understands, e.g. wanda-50%).", default="wanda-50%")
    overlays: tuple[str, ...] = _help("Other compressions for the layer-wise overlay.",
                                      default=("wanda-2:4", "rtn-int4-g128-sym", "sparsegpt-50%", "gptq-int4-g128-sym"))
    sites: tuple[str, ...] = _help("Sites of the sweep.", default=SITES)
    layers: tuple[int, ...] = _help("Layers of the sweep (empty: all).", default=())
    sae_sparsities: tuple[float, ...] = _help("SAE sparsities of the sweep.", default=DEFAULT_SAE_SWEEP)
    retrain_tokens: int = _help("Training tokens of the retrained SAEs (0: none).", default=1_000_000)
    eval_sequences: int = _help("Evaluation sequences of the core metrics (EvalSpec.n_sequences).", default=64)
    overlay_variants: tuple[str, ...] = _help("SAE variants evaluated for the overlays.", default=("dense", "pretrained", "pruned25", "pruned50"))
    overlay_sites: tuple[str, ...] = _help("Sites of the overlays (empty: the sweep's).", default=())
    evals: tuple[str, ...] = _help("Evaluations beyond core run at eval_site/eval_layer ('all': every registered one).", default=("all",))
    eval_site: str = _help("Site of the evaluation suite.", default="resid")
    eval_layer: int = _help("Layer of the evaluation suite (-1: the middle one, as the paper's layer 12 of 26; at the last "
                            "layer an interchange at the entity's token can change no later position).", default=-1)

    def __post_init__(self):
        for name in ("overlays", "sites", "layers", "sae_sparsities", "overlay_variants", "overlay_sites", "evals"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        bad = [s for s in (*self.sites, *self.overlay_sites, self.eval_site) if s not in SITES]
        if bad:
            raise ValueError(f"Demo sites {bad} unknown: choose from {SITES}.")
        if self.retrain_tokens < 0 or self.eval_sequences < 1:
            raise ValueError("retrain_tokens must be >= 0 and eval_sequences >= 1.")
        if not any(s >= 0.25 for s in self.sae_sparsities):
            raise ValueError("The demo sweep needs an SAE sparsity >= 25% for PrunedBest: add 0.25 or 0.5.")


SMALL = DemoSettings(sites=("resid", "mlp"), sae_sparsities=(0.0, 0.25, 0.5, 0.75, 0.9), retrain_tokens=200_000,
                     overlays=("wanda-2:4", "rtn-int4-g128-sym"), overlay_variants=("dense", "pretrained", "pruned50"),
                     overlay_sites=("resid",), evals=("ravel",))
FULL = DemoSettings()


def settings_from_json(data: dict) -> DemoSettings:
    return DemoSettings(**{k: v for k, v in data.items() if k in DemoSettings.__dataclass_fields__})


# --- reading the shipped files --------------------------------------------------------------------
def manifest(root: Path | None = None) -> dict | None:
    root = root or demo_dir()
    path = root / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else None


def settings(root: Path | None = None) -> DemoSettings | None:
    """The settings the shipped data was built with (None: no demo data shipped)."""
    root = root or demo_dir()
    m = manifest(root)
    return settings_from_json(m["settings"]) if m else None


def retrain_spec(root: Path | None = None) -> TrainSpec:
    """The retraining of the shipped results (so that pages ask for what is shipped), else the default one."""
    cfg = settings(root)
    return TrainSpec(training_tokens=cfg.retrain_tokens) if cfg and cfg.retrain_tokens else TrainSpec()


def is_current(root: Path | None = None) -> bool:
    """Whether the shipped results were computed from today's embedded assets and result definitions."""
    root = root or demo_dir()

    m = manifest(root)
    return bool(m) and m.get("fingerprint") == fingerprint() and m.get("results_version") == RESULTS_VERSION


@lru_cache(maxsize=4)
def _frame(root: str, name: str, mtime: float) -> "pd.DataFrame":
    # lazy: pandas loads only when this runs, so importing saeviz.store.demo stays light
    import pandas as pd

    return pd.read_parquet(Path(root) / name)


def frame(name: str, root: Path | None = None) -> "pd.DataFrame":
    """A shipped table (metrics or compress_stats), read once per file version; empty when absent."""
    root = root or demo_dir()
    path = root / f"{name}.parquet"
    if path.is_file():
        return _frame(str(root), path.name, path.stat().st_mtime).copy()
    # lazy: pandas loads only when this runs, so importing saeviz.store.demo stays light
    import pandas as pd

    return pd.DataFrame()


def summary(root: Path | None = None) -> dict | None:
    """The embedded model's summary (the home page's numbers) saved with the demo data, while the embedded
    assets are the ones it describes. Cheap on purpose (no torch, no pandas): the home page's first draw."""
    root = root or demo_dir()
    path, m = root / "summary.json", manifest(root)
    return json.loads(path.read_text()) if path.is_file() and m and m.get("fingerprint") == fingerprint() else None


def shipped_rows(keys, root: Path | None = None) -> "pd.DataFrame":
    """Shipped metric rows under these run keys (none when the shipped data is stale)."""
    root = root or demo_dir()
    rows = frame("metrics", root)
    if rows.empty or not is_current(root):
        return rows.iloc[:0]
    return rows[rows["run_key"].isin(set(keys))].reset_index(drop=True)


def shipped_compress_stats(compress_key: str, root: Path | None = None) -> "pd.DataFrame":
    root = root or demo_dir()
    stats = frame("compress_stats", root)
    if stats.empty or not is_current(root):
        return stats.iloc[:0]
    return stats[stats["compress_key"] == compress_key].reset_index(drop=True)


def pack_masks(masks: dict[str, "torch.Tensor"]) -> tuple[dict[str, "torch.Tensor"], dict[str, str]]:
    """Boolean masks -> bit-packed uint8 tensors (8x smaller) and their shapes as safetensors metadata."""
    # lazy: numpy loads only when this runs, so importing saeviz.store.demo stays light; torch loads only when this
    import numpy as np
    import torch

    packed = {k: torch.from_numpy(np.packbits(m.bool().numpy().ravel())) for k, m in masks.items()}
    return packed, {k: json.dumps(list(m.shape)) for k, m in masks.items()}


def unpack_masks(packed: dict, shapes: dict[str, str]) -> dict:
    # lazy: numpy loads only when this runs, so importing saeviz.store.demo stays light; torch loads only when this
    import numpy as np
    import torch

    out = {}
    for k, bits in packed.items():
        shape = json.loads(shapes[k])
        flat = np.unpackbits(bits.numpy())[: int(np.prod(shape))]
        out[k] = torch.from_numpy(flat.astype(bool).reshape(shape))
    return out


def load_into_store(store, root: Path | None = None, runs: bool = True) -> dict[str, int]:
    """Copy the shipped results into a cache (what it lacks only): the model masks and compression statistics,
    then (``runs``) the metric rows; returns what was added."""
    # lazy: pandas loads only when this runs, so importing saeviz.store.demo stays light; safetensors loads only
    import pandas as pd
    from safetensors import safe_open

    root = root or demo_dir()
    added = {"runs": 0, "compressions": 0, "masks": 0}
    if not is_current(root):
        return added
    path = root / "masks.safetensors"
    if path.is_file():
        with safe_open(str(path), "pt") as f:
            shapes, names = f.metadata() or {}, list(f.keys())
            for key in sorted({n.split("/")[0] for n in names}):
                if store.get_tensors("model_masks", key) is None:
                    part = {n.split("/", 1)[1]: f.get_tensor(n) for n in names if n.startswith(key + "/")}
                    store.put_tensors("model_masks", key, unpack_masks(part, {k: shapes[f"{key}/{k}"] for k in part}),
                                      meta={"source": "demo_data"})
                    added["masks"] += 1
    stats = frame("compress_stats", root)
    for key, group in (stats.groupby("compress_key") if len(stats) else []):
        if store.compress_stats(key).empty:
            store.put_compress_stats(group.to_dict("records"))
            added["compressions"] += 1
    if not runs:
        return added
    rows = frame("metrics", root)
    have = set(store.metrics_for_runs(list(rows["run_key"].unique()))["run_key"])
    info_cols = ["run_key", "model", "compression", "site", "layer", "variant", "sae_sparsity", "eval"]
    with store.batch():  # a few hundred runs: one transaction, not one database open each
        for _, run in rows[~rows["run_key"].isin(have)].groupby("run_key", sort=False):
            info = {c: (None if pd.isna(run[c].iloc[0]) else run[c].iloc[0]) for c in info_cols}
            info["layer"] = None if info["layer"] is None else int(info["layer"])
            store.put_metrics(info, rows=run[["item", "metric", "value"]])
            added["runs"] += 1
    return added
