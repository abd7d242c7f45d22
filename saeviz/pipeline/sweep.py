"""The paper's comparison for every (site, layer): dense reference, pretrained, pruned at each SAE
sparsity, PrunedBest and retrained SAEs, all on the compressed model; resumable through the cache."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from saeviz.jobs import Progress, report
from saeviz.pipeline.runner import evaluate, model_ce, prefetch, run_key
from saeviz.pipeline.workbench import Workbench
from saeviz.sae.variants import VariantSpec
from saeviz.specs import (
    DEFAULT_SAE_SWEEP,
    DENSE,
    SITES,
    BestRule,
    CompressSpec,
    EvalSpec,
    SaePruneSpec,
    TrainSpec,
    _help,
)


@dataclass(frozen=True)
class SweepSpec:
    """Which units (site x layer) and SAE variants to compute for one compressed model."""

    compression: CompressSpec = _help("How the model is compressed.", default_factory=CompressSpec)
    sites: tuple[str, ...] = _help("Sites: attn (hook_z), mlp (hook_mlp_out), resid (hook_resid_post).", default=SITES)
    layers: tuple[int, ...] = _help("Layers; empty means all.", default=())
    sae_sparsities: tuple[float, ...] = _help("SAE sparsities of the pruning sweep.", default=DEFAULT_SAE_SWEEP)
    sae_prune_method: str = _help("How the SAE is pruned: wanda or magnitude.", default="wanda")
    retrain: TrainSpec | None = _help("Retrain an SAE on the compressed model (None: skip).", default=None)
    eval: EvalSpec = _help("How every variant is evaluated.", default_factory=EvalSpec)
    best: BestRule = _help("How PrunedBest is chosen.", default_factory=BestRule)

    def __post_init__(self):
        for name in ("sites", "layers", "sae_sparsities"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        bad = [s for s in self.sites if s not in SITES]
        if bad or not self.sites:
            raise ValueError(f"Sites {bad or '()'} not understood: choose from {SITES}.")
        for s in self.sae_sparsities:
            SaePruneSpec(method=self.sae_prune_method, sparsity=s)  # validates

    def prune_spec(self, sparsity: float) -> SaePruneSpec:
        return SaePruneSpec(method=self.sae_prune_method, sparsity=sparsity)


def unit_variants(spec: SweepSpec) -> list[VariantSpec]:
    """The variants of one (site, layer) in the order they are computed (PrunedBest last: it reads the rest)."""
    variants = [VariantSpec("dense"), VariantSpec("pretrained")]
    if spec.retrain is not None:
        variants.append(VariantSpec("retrained", train=spec.retrain))
    variants += [VariantSpec("pruned", s, spec.sae_prune_method) for s in spec.sae_sparsities]
    variants.append(VariantSpec("pruned_best", prune_method=spec.sae_prune_method, train=spec.retrain, best=spec.best,
                                sweep=spec.sae_sparsities, vs_retrained=spec.retrain is not None))
    return variants


def unit_run_keys(bench: Workbench, spec: SweepSpec, site: str, layer: int) -> list[str]:
    """The core runs of one (site, layer), computed without loading a model."""
    return [run_key(bench, spec.compression, site, layer, v, "core", spec.eval) for v in unit_variants(spec)]


def run_unit(bench: Workbench, spec: SweepSpec, site: str, layer: int, tick) -> list[pd.DataFrame]:
    frames, variants = [], unit_variants(spec)
    prefetch(bench, spec.compression, site, layer, variants, "core", spec.eval)
    with bench.store.batch():  # the unit's writes in one transaction
        for variant in variants:
            tick(f"{site} L{layer}: {variant.label()}")
            frames.append(evaluate(bench, spec.compression, variant, site, layer, "core", spec.eval))
    best = frames[-1]
    within = best[best["metric"] == "within_tolerance"]["value"].iloc[0]
    tick(f"{site} L{layer}: done (PrunedBest {best['sae_sparsity'].iloc[0]:.0%}{'' if within else ', none within tolerance'})")
    return frames


def preload(bench: Workbench, spec: SweepSpec, units: list[tuple[str, int]]) -> None:
    """Every unit's activations in one forward pass per model variant and split, where they fit in memory
    (each unit alone would run the blocks up to its own layer again)."""
    hooks = [bench.sae_hook(site, layer) for site, layer in units]
    n_eval = spec.eval.n_sequences
    bench.preload_activations(DENSE, hooks, "eval", n_eval)
    bench.preload_activations(spec.compression, hooks, "eval", n_eval)
    if spec.sae_prune_method == "wanda" and any(s > 0 for s in spec.sae_sparsities):
        bench.preload_activations(spec.compression, hooks, "calibration", bench.tokens("calibration").shape[0])


def run_sweep(bench: Workbench, spec: SweepSpec, progress: Progress | None = None) -> pd.DataFrame:
    """Compute (or read from the cache) every variant of every unit; returns their metric rows."""
    bench.check_units(spec.sites, spec.layers)
    layers = spec.layers or tuple(range(bench.n_layers()))
    units = [(site, layer) for layer in layers for site in spec.sites]
    total = len(units) * (len(unit_variants(spec)) + 1) + 2  # a tick per variant and one per finished unit, two model CEs
    done, first_run = 0, len(bench.run_keys)

    def tick(message: str) -> None:
        nonlocal done
        done += 1
        report(progress, done, total, message)

    stored = bench.store.runs_rows([k for site, layer in units for k in unit_run_keys(bench, spec, site, layer)])
    missing = [(s, l) for s, l in units if not all(k in stored for k in unit_run_keys(bench, spec, s, l))]
    preload(bench, spec, missing)  # a finished sweep is read back without a forward pass
    model_ce(bench, DENSE, spec.eval)
    tick("dense model CE")
    model_ce(bench, spec.compression, spec.eval)
    tick(f"{spec.compression.label()} model CE")
    frames = [bench.store.metrics_for_runs(bench.run_keys[first_run:])]  # the two model-CE rows
    for site, layer in units:
        frames += run_unit(bench, spec, site, layer, tick)
    return pd.concat([f for f in frames if len(f)], ignore_index=True)
