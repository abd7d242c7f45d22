"""The sweep on a local Ray (started once for the module, 2 CPUs, no dashboard): the in-process rows, bit for
bit; cached units are not sent; a unit that fails on its own is named and the others are cached."""

import shutil

import pytest
import torch

from saeviz.cluster import plans, ray_runner
from saeviz.cluster.ray_runner import RayOptions
from saeviz.pipeline.sweep import SweepSpec, run_sweep
from saeviz.pipeline.workbench import Workbench
from saeviz.specs import CompressSpec, EvalSpec, ModelSpec
from saeviz.store.db import Store

SPEC = SweepSpec(compression=CompressSpec(method="wanda", sparsity=0.5, n_calibration=16), sites=("resid", "mlp"),
                 layers=(1,), sae_sparsities=(0.0, 0.5), eval=EvalSpec(n_sequences=4))
KEY = ["run_key", "item", "metric"]


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray_runner.connect("local", num_cpus=2)
    yield
    ray.shutdown()


def _sorted(rows):
    return rows.sort_values(KEY).reset_index(drop=True)


def test_a_sweep_on_ray_gives_the_in_process_rows_and_resumes_from_the_cache(tmp_path, local_ray, monkeypatch):
    ours = _sorted(run_sweep(Workbench(ModelSpec(), Store(tmp_path / "here")), SPEC))
    seen = []
    bench = Workbench(ModelSpec(), Store(tmp_path / "ray"))
    stages = plans.sweep_stages(bench, SPEC, torch.get_num_threads())
    ran = ray_runner.run_units(bench, stages, RayOptions(cpus_per_unit=2), progress=lambda d, t, m="": seen.append((d, t, m)))
    assert ran == 3
    got = _sorted(run_sweep(bench, SPEC))
    assert not bench.loaded()["base_model"]  # read back from the cache: the driver loaded no model
    assert got.drop(columns="value").equals(ours.drop(columns="value"))
    assert got["value"].fillna(-9.0).tolist() == ours["value"].fillna(-9.0).tolist()  # bit for bit
    assert seen[-1][:2] == (3, 3) and "s left" in seen[-1][2]  # model CEs + two units, with an estimate
    # a rerun sends nothing: every unit's runs are in the driver's cache
    monkeypatch.setattr(ray_runner, "connect", lambda *a, **k: pytest.fail("a cached sweep contacted Ray"))
    bench = Workbench(ModelSpec(), Store(tmp_path / "ray"))
    assert ray_runner.run_units(bench, plans.sweep_stages(bench, SPEC)) == 0


def test_a_failing_unit_is_named_and_the_others_are_cached(tmp_path, local_ray):
    from saeviz.embedded import ASSETS_DIR as ASSETS

    saes = tmp_path / "saes"
    for layer in (0, 1):
        shutil.copytree(ASSETS / "saes" / "resid" / f"layer_{layer}", saes / "resid" / f"layer_{layer}")
    (saes / "resid" / "layer_0" / "sae_weights.safetensors").write_bytes(b"not safetensors")  # found, unreadable
    bench = Workbench(ModelSpec(), Store(tmp_path / "cache"), sae_template=str(saes / "{site}" / "layer_{layer}"))
    spec = SweepSpec(compression=SPEC.compression, sites=("resid",), layers=(0, 1), sae_sparsities=(0.0, 0.5), eval=SPEC.eval)
    with pytest.raises(ray_runner.UnitFailed, match=r"1 of 3 units failed.*resid L0 \(wanda-50%\): .*safetensors"):
        ray_runner.run_units(bench, plans.sweep_stages(bench, spec), RayOptions(cpus_per_unit=2))
    cached = bench.store.metrics(site="resid")
    assert set(cached["layer"]) == {1}  # the unit that could run is stored


def test_slots_are_counted_per_node_and_a_unit_too_big_for_every_node_is_refused():
    nodes = [{"CPU": 1.0}, {"CPU": 2.0, "GPU": 2.0}]
    assert ray_runner._slots(nodes, 1, 0) == 3
    assert ray_runner._slots(nodes, 1, 1) == 2  # GPUs on one node only
    assert ray_runner._slots(nodes, 2, 1) == 1  # that node's 2 CPUs hold one such unit
    with pytest.raises(ray_runner.SaevizError, match="No node .* room for one unit of 3 CPUs"):
        ray_runner._slots(nodes, 3, 0)
