"""Units (saeviz.cluster.units) on Ray: actors compute them, the driver writes their results.

The driver checks every unit against its cache without loading a model and sends only those missing; it
writes each unit's results in one transaction as the unit returns (the only DuckDB writer: a killed driver
loses the units in flight, and a rerun resumes). A worker (``_UnitWorker``, one Ray actor per slot) keeps
one Workbench per model setup, so its models, compressed variants, SAEs and activations stay loaded between
units and between calls of the same driver. Its cache is a private folder; what it reads of earlier units
(trained SAEs, the runs PrunedBest picks from) comes with the unit, or from the driver's cache folder
itself when every node sees it at the same path (``shared_cache``).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from saeviz.cluster.units import BenchSpec, Unit
from saeviz.errors import SaevizError
from saeviz.jobs import Progress, report
from saeviz.pipeline.workbench import Workbench
from saeviz.store.db import Store
from saeviz.store.transfer import Delta, absorb, collect, install, read_dir

ADDRESS_ENV = "SAEVIZ_RAY_ADDRESS"
LOCAL = "local"
LOST_WORKER_RETRIES = 3  # a unit whose worker died this many times is reported, not retried forever
POLL_S = 0.5  # how often a cancel is looked for while units run


@dataclass(frozen=True)
class RayOptions:
    """Where and how units run on Ray."""

    address: str | None = None  # None or 'local': a Ray started here; 'auto' or HOST:PORT: a `ray start` cluster
    cpus_per_unit: float = 1.0
    gpus_per_unit: float = 0.0
    workers: int | None = None  # None: as many as the cluster has room for
    torch_threads: int = 0  # 0: each worker's CPUs decide; the driver's count gives bit-identical rows
    shared_cache: bool = False  # every node sees the driver's cache folder at the same path: read from it

    def __post_init__(self):
        if self.cpus_per_unit <= 0 or self.gpus_per_unit < 0:
            raise ValueError("--cpus-per-unit must be positive and --gpus-per-unit at least 0.")


class UnitFailed(SaevizError):
    """Units that failed for a reason of their own (the others finished and are cached)."""


def connect(address: str | None = None, num_cpus: int | None = None) -> str:
    """Join the Ray cluster at ``address`` ('auto' or HOST:PORT, as `ray start` prints), or start a local
    one (None or 'local'; SAEVIZ_RAY_ADDRESS when None); returns what it connected to. A driver connected
    elsewhere (the dashboard's address changed) leaves that cluster first: its workers are stopped."""
    # lazy: ray loads only when a command runs with --ray
    import ray

    address = address or os.environ.get(ADDRESS_ENV) or LOCAL
    if ray.is_initialized():
        if _CONNECTED.get("address") == address:
            return address
        release()
        ray.shutdown()
    _POOLS.clear()  # actor handles belong to the Ray session that made them
    if address == LOCAL:
        # Ray's own 'local' starts a new instance even where a `ray start` cluster runs on this machine (no
        # address would join that one). No dashboard, and a small object store: rows are small, and the
        # default takes 30% of RAM.
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, object_store_memory=200 * 2**20,
                 configure_logging=False, log_to_driver=False)
    else:
        ray.init(address=address, configure_logging=False, log_to_driver=False)
    _CONNECTED["address"] = address
    return address


_CONNECTED: dict[str, str] = {}  # the address this driver's Ray session was opened with


class _UnitWorker:
    """A Ray actor computing units; one Workbench per BenchSpec, kept between units."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="saeviz-ray-worker-"))
        self.benches: dict[tuple, Workbench] = {}

    def info(self) -> dict:
        """Where this worker runs: its process and the GPUs Ray gave it."""
        return {"pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}

    def _bench(self, setup: BenchSpec, shared: str | None) -> Workbench:
        if (setup, shared) not in self.benches:
            if setup.torch_threads:
                torch.set_num_threads(setup.torch_threads)
            store = Store(self.root / f"cache-{len(self.benches)}", shared=Path(shared) if shared else None)
            self.benches[setup, shared] = setup.workbench(store)
        return self.benches[setup, shared]

    def run(self, unit: Unit, inputs: Delta, shared: str | None) -> Delta:
        """Compute ``unit`` (after writing what it reads into this worker's cache); returns what it wrote."""
        bench = self._bench(unit.bench, shared)
        install(bench.store, inputs.dirs)
        if inputs.tables:
            absorb(bench.store, Delta(inputs.tables))
        with bench.store.recording() as journal:
            unit.run(bench)
            unit.outputs(bench, journal)
        return collect(bench.store, journal)

    def noop(self, unit) -> Delta:
        """Nothing: what Ray itself costs per unit (bench)."""
        return Delta()


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


_POOLS: dict[tuple, list] = {}  # (ray session, cpus, gpus) -> actors: kept for the driver's next call


def release() -> int:
    """Stop every worker this driver started (their models and their share of the cluster go); returns how many."""
    n = 0
    for pool in list(_POOLS.values()):
        for actor in pool:
            _kill(actor)
            n += 1
    _POOLS.clear()
    return n


def _actor_class(cpus: float, gpus: float):
    # lazy: ray loads only when a command runs with --ray
    import ray

    return ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=-1, max_task_retries=-1)(_UnitWorker)


def _workers(n: int, cpus: float, gpus: float) -> list:
    """``n`` worker actors of this shape, reusing the ones earlier calls made (their models stay loaded)."""
    # lazy: ray loads only when a command runs with --ray
    import ray

    key = (ray.get_runtime_context().get_job_id(), cpus, gpus)
    for other in [k for k in _POOLS if k != key]:  # workers of another shape hold resources this one may need
        for actor in _POOLS.pop(other):
            _kill(actor)
    pool = _POOLS.setdefault(key, [])
    pool += [_actor_class(cpus, gpus).remote() for _ in range(n - len(pool))]
    return list(pool[:n])


def _kill(actor) -> None:
    # lazy: ray loads only when a command runs with --ray
    import ray

    try:
        ray.kill(actor)
    except ray.exceptions.ActorHandleNotFoundError:  # made in an earlier Ray session: already gone
        pass


def _replace(actor, cpus: float, gpus: float):
    """A fresh worker, in the pool too, in place of one that Ray could not bring back."""
    _kill(actor)
    fresh = _actor_class(cpus, gpus).remote()
    for pool in _POOLS.values():
        pool[:] = [fresh if a._actor_id == actor._actor_id else a for a in pool]
    return fresh


def _inputs(bench: Workbench, unit: Unit, shared: bool) -> Delta:
    """What ``unit`` reads of earlier units, from the driver's cache: trained SAE folders (unless the
    workers read them from the shared cache folder) and metric runs."""
    wanted = unit.inputs(bench)
    delta = Delta()
    if wanted.runs:
        rows = bench.store.table_rows("metrics", list(wanted.runs))
        if len(rows):
            delta.tables["metrics"] = rows
    if not shared:
        delta.dirs = {rel: read_dir(bench.store.root / rel) for rel in wanted.dirs}
    return delta


def run_units(bench: Workbench, stages: list[list[Unit]], options: RayOptions = RayOptions(),
              progress: Progress | None = None) -> int:
    """Compute every unit not in ``bench``'s cache on Ray, stage after stage (a stage's units may read what
    earlier stages wrote); returns how many ran. A worker lost mid-unit is brought back and its unit rerun;
    a unit that fails for a reason of its own is reported (UnitFailed, naming it) once the others have
    finished. A cancel (progress answering False) stops sending units; those finished stay cached."""
    units = [u for stage in stages for u in stage]
    run_keys = {u: u.run_keys(bench) for u in units}
    stored = set(bench.store.runs_rows([k for ks in run_keys.values() for k in ks]))
    todo = {u for u in units if not u.done(bench, stored)}
    total, done = len(units), len(units) - len(todo)
    message = f"{done} of {total} units cached" if done else f"{total} units"
    report(progress, done, total, message)
    if not todo:
        return 0
    # lazy: ray loads only when a command runs with --ray
    import ray

    connect(options.address)
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    slots = options.workers or _slots(nodes, options.cpus_per_unit, options.gpus_per_unit)
    shared = str(bench.store.root.resolve()) if options.shared_cache else None
    failures: list[str] = []
    start, finished = time.perf_counter(), 0
    for stage in stages:
        queue = [u for u in stage if u in todo]
        if not queue:
            continue
        idle = _workers(min(slots, len(queue)), options.cpus_per_unit, options.gpus_per_unit)
        running, lost = {}, {}
        try:
            while queue or running:
                while queue and idle:  # units go to whichever worker is free; each keeps what it loaded
                    actor, unit = idle.pop(), queue.pop(0)
                    running[actor.run.remote(unit, _inputs(bench, unit, options.shared_cache), shared)] = (actor, unit)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
                if not ready:  # nothing finished yet: the caller may cancel meanwhile
                    report(progress, done, total, message)
                    continue
                actor, unit = running.pop(ready[0])
                ref = ready[0]
                try:
                    delta = ray.get(ref)
                except ray.exceptions.RayActorError as exc:  # the worker died and Ray gave the task up
                    lost[unit] = lost.get(unit, 0) + 1
                    if lost[unit] > LOST_WORKER_RETRIES:
                        failures.append(f"{unit.label()}: its worker died {lost[unit]} times ({_reason(exc)})")
                    else:
                        queue.insert(0, unit)
                    idle.append(_replace(actor, options.cpus_per_unit, options.gpus_per_unit))
                    continue
                except ray.exceptions.RayTaskError as exc:  # the unit's own error
                    idle.append(actor)
                    failures.append(f"{unit.label()}: {_reason(exc)}")
                    continue
                idle.append(actor)
                absorb(bench.store, delta)
                done, finished = done + 1, finished + 1
                left = (time.perf_counter() - start) / finished * (len(todo) - finished - len(failures))
                message = f"{unit.label()} done, about {left:.0f} s left"
                report(progress, done, total, message)
        finally:
            for ref in running:  # a cancel: what is not finished is dropped, what is cached stays
                ray.cancel(ref)
    if failures:
        raise UnitFailed(f"{len(failures)} of {total} units failed (the others are cached; rerun to retry them): "
                         + "; ".join(failures))
    return finished


def cluster_info() -> dict | None:
    """The connected cluster's nodes, CPUs and GPUs (alive nodes), and this driver's workers; None if not connected."""
    # lazy: ray loads only when a command runs with --ray
    import ray

    if not ray.is_initialized():
        return None
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    return {"address": _CONNECTED.get("address", "?"), "nodes": len(nodes), "cpus": sum(n.get("CPU", 0) for n in nodes), "gpus": sum(n.get("GPU", 0) for n in nodes),
            "workers": sum(len(p) for p in _POOLS.values())}


def noop_rate(n_units: int, options: RayOptions = RayOptions()) -> float:
    """Units per second that Ray dispatches and returns when a unit does nothing."""
    # lazy: ray loads only when a command runs with --ray
    import ray

    connect(options.address)
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    actors = _workers(options.workers or _slots(nodes, options.cpus_per_unit, 0), options.cpus_per_unit, 0)
    ray.get([a.noop.remote(None) for a in actors])  # started
    start = time.perf_counter()
    ray.get([actors[i % len(actors)].noop.remote(i) for i in range(n_units)])
    return n_units / (time.perf_counter() - start)


def _reason(exc) -> str:
    cause = getattr(exc, "cause", None)
    if cause is not None:
        return f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause).strip() else ''}"
    return str(exc).strip().splitlines()[0]
