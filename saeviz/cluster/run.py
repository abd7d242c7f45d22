"""The long jobs with their executor chosen: in this process (``ray`` None) or their units on Ray, then
read back from the cache. What the dashboard's "Run on" and the CLI's --ray both end in."""

from __future__ import annotations

import pandas as pd

from saeviz.cluster import plans
from saeviz.cluster.ray_runner import RayOptions, run_units
from saeviz.jobs import Progress
from saeviz.pipeline.runner import evaluate_suite
from saeviz.pipeline.sweep import SweepSpec, run_sweep
from saeviz.pipeline.workbench import Workbench
from saeviz.specs import CompressSpec


def sweep(bench: Workbench, spec: SweepSpec, progress: Progress | None = None, ray: RayOptions | None = None) -> pd.DataFrame:
    if ray is None:
        return run_sweep(bench, spec, progress)
    run_units(bench, plans.sweep_stages(bench, spec), ray, progress)
    return run_sweep(bench, spec)


def evaluations(bench: Workbench, compress: CompressSpec, site: str, layer: int, variants, names, specs: dict | None = None,
                progress: Progress | None = None, ray: RayOptions | None = None) -> pd.DataFrame:
    specs = specs or {}
    if ray is not None:
        jobs = [(site, layer, name, tuple(variants), specs.get(name)) for name in names]
        run_units(bench, plans.eval_stages(bench, compress, jobs), ray, progress)
        progress = None
    return evaluate_suite(bench, compress, site, layer, variants, names, specs, progress)
