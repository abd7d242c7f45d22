"""The SAE sweep on Ray: every (site, layer) of a SweepSpec, and the model CEs, as units computed by actors.

A unit is a frozen, picklable spec (``SweepUnit``); the driver computes every unit's run keys without
loading a model, sends only the units whose runs are not all in the cache, and writes each unit's rows in
one transaction as it returns (the only DuckDB writer: a killed driver loses the units in flight, and a
rerun resumes). A worker (``_UnitWorker``, one Ray actor per slot) keeps one Workbench per model setup,
so its models, compressed variants, SAEs and activations stay loaded between units; its own cache is a
private folder (workers share no disk), so a worker computes the activations its units need.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from saeviz.errors import SaevizError
from saeviz.jobs import Progress, report
from saeviz.pipeline.runner import model_ce, run_key
from saeviz.pipeline.sweep import SweepSpec, run_sweep, run_unit, unit_variants
from saeviz.pipeline.workbench import Workbench
from saeviz.specs import DENSE, EMBEDDED, EMBEDDED_SAE_TEMPLATE, ModelSpec
from saeviz.store import keys
from saeviz.store.db import RUN_COLUMNS, Store

ADDRESS_ENV = "SAEVIZ_RAY_ADDRESS"
LOCAL = "local"


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


@dataclass(frozen=True)
class SweepUnit:
    """One unit of a sweep: a (site, layer), or (None, None) for the dense and compressed model CEs."""

    bench: BenchSpec
    sweep: SweepSpec
    site: str | None = None
    layer: int | None = None

    def label(self) -> str:
        return "model CE" if self.site is None else f"{self.site} L{self.layer}"


class UnitFailed(SaevizError):
    """Units that failed for a reason of their own (the others finished and are cached)."""


def connect(address: str | None = None, num_cpus: int | None = None) -> str:
    """Join the Ray cluster at ``address`` ('auto' or HOST:PORT, as `ray start` prints), or start a local
    one (None or 'local'; SAEVIZ_RAY_ADDRESS when None); returns what it connected to."""
    # lazy: ray loads only when a command runs with --ray
    import ray

    address = address or os.environ.get(ADDRESS_ENV) or LOCAL
    if ray.is_initialized():
        return address
    _POOLS.clear()  # actor handles belong to the Ray session that made them
    if address == LOCAL:
        # no dashboard, and a small object store: rows are small, and the default takes 30% of RAM
        ray.init(num_cpus=num_cpus, include_dashboard=False, object_store_memory=200 * 2**20,
                 configure_logging=False, log_to_driver=False)
    else:
        ray.init(address=address, configure_logging=False, log_to_driver=False)
    return address


def sweep_units(bench: Workbench, spec: SweepSpec, torch_threads: int = 0) -> list[SweepUnit]:
    bench.check_units(spec.sites, spec.layers)
    layers = spec.layers or tuple(range(bench.n_layers()))
    setup = BenchSpec.of(bench, torch_threads)
    return [SweepUnit(setup, spec)] + [SweepUnit(setup, spec, site, layer) for layer in layers for site in spec.sites]


def unit_keys(bench: Workbench, unit: SweepUnit) -> list[str]:
    """The run keys a unit writes, computed on the driver without loading a model."""
    spec = unit.sweep
    if unit.site is None:
        return [keys.model_ce_key(bench.compress_key(c), spec.eval) for c in (DENSE, spec.compression)]
    return [run_key(bench, spec.compression, unit.site, unit.layer, v, "core", spec.eval) for v in unit_variants(spec)]


class _UnitWorker:
    """A Ray actor computing units; one Workbench per BenchSpec, kept between units."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="saeviz-ray-worker-"))
        self.benches: dict[BenchSpec, Workbench] = {}

    def info(self) -> dict:
        """Where this worker runs: its process and the GPUs Ray gave it."""
        return {"pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}

    def _bench(self, setup: BenchSpec) -> Workbench:
        if setup not in self.benches:
            if setup.torch_threads:
                torch.set_num_threads(setup.torch_threads)
            store = Store(self.root / f"cache-{len(self.benches)}")
            self.benches[setup] = Workbench(setup.model, store, tokens_source=setup.tokens_source,
                                            sae_template=setup.sae_template)
        return self.benches[setup]

    def run(self, unit: SweepUnit) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(metric rows, timings) of every run of the unit, computed here or read from this worker's cache."""
        bench = self._bench(unit.bench)
        first = len(bench.run_keys)
        if unit.site is None:
            for compression in (DENSE, unit.sweep.compression):
                model_ce(bench, compression, unit.sweep.eval)
        else:
            run_unit(bench, unit.sweep, unit.site, unit.layer, lambda message: None)
        run_keys = list(dict.fromkeys(bench.run_keys[first:]))
        timings = bench.store.timings()
        return bench.store.metrics_for_runs(run_keys), timings[timings["job_key"].isin(run_keys)] if len(timings) else timings


def _slots(nodes: list[dict], cpus_per_unit: float, gpus_per_unit: float) -> int:
    """How many units the cluster runs at once: on each node, its CPUs (and GPUs) over what one unit reserves
    (a unit's CPUs and GPUs come from one node)."""
    slots = 0
    for resources in nodes:
        fits = int(resources.get("CPU", 0) // max(cpus_per_unit, 1e-9))
        if gpus_per_unit:
            fits = min(fits, int(resources.get("GPU", 0) // gpus_per_unit))
        slots += fits
    if slots < 1:
        cpus, gpus = sum(r.get("CPU", 0) for r in nodes), sum(r.get("GPU", 0) for r in nodes)
        raise SaevizError(f"No node of the Ray cluster ({cpus:g} CPUs, {gpus:g} GPUs in all) has room for one unit of "
                          f"{cpus_per_unit:g} CPUs and {gpus_per_unit:g} GPUs: lower --cpus-per-unit / --gpus-per-unit "
                          "or add nodes.")
    return slots


def pool_info() -> list[dict]:
    """``info()`` of every worker this driver started (its process, its GPUs)."""
    # lazy: ray loads only when a command runs with --ray
    import ray

    return ray.get([a.info.remote() for pool in _POOLS.values() for a in pool])


_POOLS: dict[tuple, list] = {}  # (ray session, cpus, gpus) -> actors: kept for the driver's next sweep


def _workers(n: int, cpus: float, gpus: float) -> list:
    """``n`` worker actors of this shape, reusing the ones earlier calls made (their models stay loaded)."""
    # lazy: ray loads only when a command runs with --ray
    import ray

    key = (ray.get_runtime_context().get_job_id(), cpus, gpus)
    for other in [k for k in _POOLS if k != key]:  # workers of another shape hold resources this one may need
        for actor in _POOLS.pop(other):
            try:
                ray.kill(actor)
            except ray.exceptions.ActorHandleNotFoundError:  # made in an earlier Ray session: already gone
                pass
    pool = _POOLS.setdefault(key, [])
    cls = ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=-1, max_task_retries=-1)(_UnitWorker)
    pool += [cls.remote() for _ in range(n - len(pool))]
    return list(pool[:n])


def _write(store: Store, rows: pd.DataFrame, timings: pd.DataFrame) -> None:
    """A unit's rows in one transaction, each run under its own key, with its timing."""
    timing_of = {} if timings.empty else {r.job_key: {"kind": r.kind, "label": r.label, "seconds": r.seconds, "tokens": r.tokens}
                                          for r in timings.itertuples()}
    with store.batch():
        for key, group in rows.groupby("run_key", sort=False):
            info = {c: group[c].iloc[0] for c in RUN_COLUMNS}
            info = {c: (None if pd.isna(v) else v) for c, v in info.items()}
            store.put_metrics(info, rows=group[["item", "metric", "value"]], timing=timing_of.get(key))


def run_sweep_on_ray(bench: Workbench, spec: SweepSpec, address: str | None = None, progress: Progress | None = None,
                     cpus_per_unit: float = 1, gpus_per_unit: float = 0, workers: int | None = None,
                     torch_threads: int = 0) -> pd.DataFrame:
    """``run_sweep`` with its units on Ray; the same rows, written by this process only.

    Units whose runs are all cached are not sent. A worker lost mid-unit is restarted and the unit rerun by
    Ray; a unit that fails for a reason of its own is reported (UnitFailed, naming it) once the others have
    finished. A cancel (progress answering False) stops sending units; those finished stay cached."""
    # lazy: ray loads only when a command runs with --ray
    import ray

    units = sweep_units(bench, spec, torch_threads)
    wanted = {unit: unit_keys(bench, unit) for unit in units}
    all_keys = [k for ks in wanted.values() for k in ks]
    stored = bench.store.runs_rows(all_keys)
    todo = [u for u in units if not all(k in stored for k in wanted[u])]
    total, done = len(units), len(units) - len(todo)
    report(progress, done, total, f"{done} of {total} units cached" if done else f"{total} units")
    failures: list[str] = []
    if todo:
        connect(address)
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        slots = workers or _slots(nodes, cpus_per_unit, gpus_per_unit)
        idle = _workers(min(slots, len(todo)), cpus_per_unit, gpus_per_unit)
        queue, running, start, finished = list(todo), {}, time.perf_counter(), 0
        try:
            while queue or running:
                while queue and idle:  # units go to whichever worker is free; each keeps what it loaded
                    actor, unit = idle.pop(), queue.pop(0)
                    running[actor.run.remote(unit)] = (actor, unit)
                [ref], _ = ray.wait(list(running), num_returns=1)
                actor, unit = running.pop(ref)
                idle.append(actor)
                try:
                    rows, timings = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # the unit's own error (lost workers are retried by Ray)
                    failures.append(f"{unit.label()} ({unit.sweep.compression.label()}): {_reason(exc)}")
                    continue
                _write(bench.store, rows, timings)
                done, finished = done + 1, finished + 1
                left = (time.perf_counter() - start) / finished * (len(todo) - finished - len(failures))
                report(progress, done, total, f"{unit.label()} done, about {left:.0f} s left")
        finally:
            for ref in running:  # a cancel: what is not finished is dropped, what is cached stays
                ray.cancel(ref)
    if failures:
        raise UnitFailed(f"{len(failures)} of {total} units failed (the others are cached; rerun to retry them): "
                         + "; ".join(failures))
    return run_sweep(bench, spec)  # every run is cached now: read back in run_sweep's own shape


def _reason(exc) -> str:
    cause = getattr(exc, "cause", None)
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(exc).splitlines()[0]
