"""Units of work that a cluster runs: frozen, picklable specs, each computed on a worker's own Workbench
and written under the cache keys the in-process path uses.

A unit knows, on the driver and without loading a model, whether the driver's cache already holds its
results (``done``), and which results of earlier units it reads (``inputs``: metric rows and trained
SAEs, shipped to workers that share no disk with the driver). ``run`` computes it on a worker; ``outputs``
adds to the worker's journal what it must ship even when the worker had it cached already.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from saeviz.evals import get_evaluation
from saeviz.features.diff import MatchSpec
from saeviz.features.stats import FeatureSpec
from saeviz.pipeline import feature_jobs
from saeviz.pipeline.runner import evaluate, model_ce, run_key
from saeviz.pipeline.sae_variants import retrained_sae
from saeviz.pipeline.sweep import SweepSpec, run_unit, unit_run_keys
from saeviz.pipeline.workbench import Workbench
from saeviz.sae.variants import VariantSpec
from saeviz.specs import DENSE, EMBEDDED, EMBEDDED_SAE_TEMPLATE, CompressSpec, EvalSpec, ModelSpec, TrainSpec
from saeviz.store import keys
from saeviz.store.db import Journal, Store


@dataclass(frozen=True)
class BenchSpec:
    """What a worker needs to build the driver's Workbench for itself."""

    model: ModelSpec
    tokens_source: str = EMBEDDED
    sae_template: str = EMBEDDED_SAE_TEMPLATE
    torch_threads: int = 0  # 0: what the worker's CPUs give; the driver's count makes rows bit-identical to it

    @classmethod
    def of(cls, bench: Workbench, torch_threads: int = 0) -> "BenchSpec":
        return cls(bench.model_spec, bench.tokens_source, bench.sae_template, torch_threads)

    def workbench(self, store: Store) -> Workbench:
        return Workbench(self.model, store, tokens_source=self.tokens_source, sae_template=self.sae_template)


@dataclass(frozen=True)
class Inputs:
    """Results of earlier units a unit reads: metric runs by key, trained SAE folders (relative to the cache)."""

    runs: tuple[str, ...] = ()
    dirs: tuple[str, ...] = ()

    def journal(self) -> Journal:
        j = Journal()
        j.keys["metrics"] |= set(self.runs)
        j.dirs |= set(self.dirs)
        return j


def retrained_key(bench: Workbench, compress: CompressSpec, site: str, layer: int, train: TrainSpec) -> str:
    return keys.retrained_key(bench.compress_key(compress), bench.sae_spec(site, layer).label(), train)


def retrained_dir(bench: Workbench, compress: CompressSpec, site: str, layer: int, train: TrainSpec) -> str:
    key = retrained_key(bench, compress, site, layer, train)
    return str((bench.store.sae_dir(key) / "final").relative_to(bench.store.root))


def variant_inputs(bench: Workbench, compress: CompressSpec, site: str, layer: int, variants) -> Inputs:
    """What evaluating these variants reads: the trained SAE of a retrained variant, and for PrunedBest the
    core runs it picks from (computed by a sweep or a core unit before)."""
    runs, dirs = [], []
    for v in variants:
        if v.kind == "retrained" or (v.kind == "pruned_best" and v.vs_retrained):
            dirs.append(retrained_dir(bench, compress, site, layer, v.train_spec if v.kind == "retrained" else v.train))
        if v.kind == "pruned_best":
            core = EvalSpec()
            picks = [VariantSpec("pruned", s, v.prune_method) for s in v.sweep if s >= v.best.min_sparsity - 1e-12]
            picks += [VariantSpec("retrained", train=v.train)] if v.vs_retrained else []
            runs += [run_key(bench, compress, site, layer, p, "core", core) for p in picks]
    present = [d for d in dirs if (bench.store.root / d / "cfg.json").is_file()]
    return Inputs(tuple(dict.fromkeys(runs)), tuple(dict.fromkeys(present)))


@dataclass(frozen=True)
class Unit:
    bench: BenchSpec

    def label(self) -> str:
        raise NotImplementedError

    def run_keys(self, bench: Workbench) -> list[str]:
        """The metric runs it writes."""
        return []

    def done(self, bench: Workbench, stored: set[str]) -> bool:
        """Whether the driver's cache holds every result (``stored``: the run keys found of all units)."""
        return all(k in stored for k in self.run_keys(bench))

    def inputs(self, bench: Workbench) -> Inputs:
        return Inputs()

    def run(self, bench: Workbench) -> None:
        raise NotImplementedError

    def outputs(self, bench: Workbench, journal: Journal) -> None:
        journal.keys["metrics"] |= set(self.run_keys(bench))


@dataclass(frozen=True)
class SweepUnit(Unit):
    """One (site, layer) of a sweep, or (None, None) for the dense and compressed model CEs."""

    sweep: SweepSpec = field(default_factory=SweepSpec)
    site: str | None = None
    layer: int | None = None

    def label(self) -> str:
        where = "model CE" if self.site is None else f"{self.site} L{self.layer}"
        return f"{where} ({self.sweep.compression.label()})"

    def run_keys(self, bench: Workbench) -> list[str]:
        spec = self.sweep
        if self.site is None:
            return [keys.model_ce_key(bench.compress_key(c), spec.eval) for c in (DENSE, spec.compression)]
        return unit_run_keys(bench, spec, self.site, self.layer)

    def inputs(self, bench: Workbench) -> Inputs:
        if self.site is None or self.sweep.retrain is None:
            return Inputs()
        return variant_inputs(bench, self.sweep.compression, self.site, self.layer, [VariantSpec("retrained", train=self.sweep.retrain)])

    def run(self, bench: Workbench) -> None:
        if self.site is None:
            for compression in (DENSE, self.sweep.compression):
                model_ce(bench, compression, self.sweep.eval)
        else:
            run_unit(bench, self.sweep, self.site, self.layer, lambda message: None)


@dataclass(frozen=True)
class EvalUnit(Unit):
    """One evaluation of several SAE variants at one (site, layer) of one compressed model."""

    compression: CompressSpec = field(default_factory=CompressSpec)
    site: str = "resid"
    layer: int = 0
    name: str = "core"
    variants: tuple[VariantSpec, ...] = ()
    spec: object = None  # the evaluation's spec (None: its default)

    def label(self) -> str:
        variants = ", ".join(v.label() for v in self.variants)
        return f"{self.name} {self.site} L{self.layer} {variants} ({self.compression.label()})"

    def _spec(self):
        return self.spec if self.spec is not None else get_evaluation(self.name).spec_cls()

    def run_keys(self, bench: Workbench) -> list[str]:
        return [run_key(bench, self.compression, self.site, self.layer, v, self.name, self._spec()) for v in self.variants]

    def inputs(self, bench: Workbench) -> Inputs:
        return variant_inputs(bench, self.compression, self.site, self.layer, self.variants)

    def run(self, bench: Workbench) -> None:
        for variant in self.variants:
            evaluate(bench, self.compression, variant, self.site, self.layer, self.name, self.spec)


@dataclass(frozen=True)
class TrainUnit(Unit):
    """One SAE retrained on a compressed model at one (site, layer)."""

    compression: CompressSpec = field(default_factory=CompressSpec)
    site: str = "resid"
    layer: int = 0
    train: TrainSpec = field(default_factory=TrainSpec)

    def label(self) -> str:
        return f"train {self.site} L{self.layer} on {self.compression.label()}"

    def _dir(self, bench: Workbench) -> str:
        return retrained_dir(bench, self.compression, self.site, self.layer, self.train)

    def done(self, bench: Workbench, stored: set[str]) -> bool:
        return (bench.store.root / self._dir(bench) / "cfg.json").is_file()

    def run(self, bench: Workbench) -> None:
        retrained_sae(bench, self.compression, self.site, self.layer, self.train)

    def outputs(self, bench: Workbench, journal: Journal) -> None:
        journal.dirs.add(self._dir(bench))
        journal.keys["timings"].add(retrained_key(bench, self.compression, self.site, self.layer, self.train))


@dataclass(frozen=True)
class FeatureUnit(Unit):
    """Every latent's statistics of one SAE variant (and, with a reference, how each latent changed)."""

    compression: CompressSpec = field(default_factory=CompressSpec)
    site: str = "resid"
    layer: int = 0
    variant: VariantSpec = field(default_factory=lambda: VariantSpec("pretrained"))
    spec: FeatureSpec = field(default_factory=FeatureSpec)
    match: MatchSpec | None = None  # None: the statistics only

    def label(self) -> str:
        return f"features {self.site} L{self.layer} {self.variant.label()} ({self.compression.label()})"

    def _compared(self) -> list[VariantSpec]:
        """The variant, and with a match its reference (the changes and the rankings read both)."""
        return [self.variant] + ([feature_jobs.reference_of(self.variant)] if self.match is not None else [])

    def _keys(self, bench: Workbench) -> tuple[list[str], str | None]:
        where = (bench, self.compression, self.site, self.layer)
        changes = feature_jobs.changes_key(*where, self.variant, self.spec, self.match) if self.match is not None else None
        return [feature_jobs.stats_key(*where, v, self.spec) for v in self._compared()], changes

    def done(self, bench: Workbench, stored: set[str]) -> bool:
        stats, changes = self._keys(bench)
        store = bench.store
        return all(store.frame_path("feature_latents", k).is_file() for k in stats) and (
            changes is None or store.frame_path("feature_changes", changes).is_file())

    def inputs(self, bench: Workbench) -> Inputs:
        return variant_inputs(bench, self.compression, self.site, self.layer, self._compared())

    def run(self, bench: Workbench) -> None:
        where = (bench, self.compression, self.site, self.layer)
        for variant in self._compared():
            feature_jobs.feature_tables(*where, variant, self.spec)
        if self.match is not None:
            feature_jobs.latent_changes(*where, self.variant, self.spec, self.match)

    def outputs(self, bench: Workbench, journal: Journal) -> None:
        stats, changes = self._keys(bench)
        for k in stats:
            journal.keys["artifacts"] |= {f"frame:feature_latents/{k}", f"frame:feature_examples/{k}", f"feature_arrays/{k}"}
            journal.keys["timings"].add(k)
        if changes is not None:
            journal.keys["artifacts"].add(f"frame:feature_changes/{changes}")
