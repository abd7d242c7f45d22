"""Each long command as stages of units (saeviz.cluster.units): retraining first (the evaluations of a
retrained SAE read it), then core evaluations (PrunedBest picks from them), then everything else. Pure
functions of the commands' specs; nothing here loads a model or touches Ray."""

from __future__ import annotations

from saeviz.cluster.units import BenchSpec, EvalUnit, FeatureUnit, SweepUnit, TrainUnit, Unit
from saeviz.features.diff import MatchSpec
from saeviz.features.stats import FeatureSpec
from saeviz.pipeline.sweep import SweepSpec
from saeviz.pipeline.workbench import Workbench
from saeviz.sae.variants import VariantSpec
from saeviz.specs import CompressSpec, TrainSpec


def _trainings(variants) -> list[TrainSpec]:
    specs = [v.train_spec if v.kind == "retrained" else v.train for v in variants
             if v.kind == "retrained" or (v.kind == "pruned_best" and v.vs_retrained)]
    return list(dict.fromkeys(specs))


def sweep_stages(bench: Workbench, spec: SweepSpec, torch_threads: int = 0) -> list[list[Unit]]:
    """The model CEs and one unit per (site, layer); the retrained SAEs first when the sweep retrains."""
    bench.check_units(spec.sites, spec.layers)
    layers = spec.layers or tuple(range(bench.n_layers()))
    setup = BenchSpec.of(bench, torch_threads)
    where = [(site, layer) for layer in layers for site in spec.sites]
    trains = [TrainUnit(setup, spec.compression, s, l, spec.retrain) for s, l in where] if spec.retrain else []
    sweep = [SweepUnit(setup, spec)] + [SweepUnit(setup, spec, site, layer) for site, layer in where]
    return [trains, sweep] if trains else [sweep]


def eval_stages(bench: Workbench, compress: CompressSpec, jobs, torch_threads: int = 0) -> list[list[Unit]]:
    """``jobs``: (site, layer, evaluation name, variants, its spec or None); one unit per variant of each."""
    setup = BenchSpec.of(bench, torch_threads)
    trains, core, rest = {}, [], []
    for site, layer, name, variants, spec in jobs:
        for train in _trainings(variants):
            trains.setdefault((site, layer, train), TrainUnit(setup, compress, site, layer, train))
        for v in variants:  # PrunedBest picks from the core runs: after them, so that it reads them
            unit = EvalUnit(setup, compress, site, layer, name, (v,), spec)
            (core if name == "core" and v.kind != "pruned_best" else rest).append(unit)
    return [stage for stage in (list(trains.values()), core, rest) if stage]


def train_stages(bench: Workbench, compress: CompressSpec, where, train: TrainSpec, eval_spec,
                 torch_threads: int = 0) -> list[list[Unit]]:
    """SAEs retrained at each (site, layer), then each one's core evaluation."""
    retrained = (VariantSpec("retrained", train=train),)
    return eval_stages(bench, compress, [(s, l, "core", retrained, eval_spec) for s, l in where], torch_threads)


def feature_stages(bench: Workbench, compress: CompressSpec, where, variants, spec: FeatureSpec = FeatureSpec(),
                   match: MatchSpec | None = None, torch_threads: int = 0) -> list[list[Unit]]:
    """Every latent's statistics of each variant at each (site, layer); with ``match``, their changes too."""
    setup = BenchSpec.of(bench, torch_threads)
    trains = {(s, l, t): TrainUnit(setup, compress, s, l, t) for s, l in where for t in _trainings(variants)}
    units = [FeatureUnit(setup, compress, s, l, v, spec, match if v.kind != "dense" else None)
             for s, l in where for v in variants]
    return [stage for stage in (list(trains.values()), units) if stage]
