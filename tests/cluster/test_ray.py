"""Every Ray test, on one real Ray cluster started once for the module (and stopped after it, so that Ray's
processes do not slow the rest of the suite): `ray start --head` on 127.0.0.1 (1 CPU, no dashboard, a small
object store) and a second node joined with `ray start --address` (2 CPUs and 2 declared GPUs); this process
is its driver, connected by address, and SAEVIZ_RAY_ADDRESS points there.

A sweep, an evaluation, the features command, the dashboard and the bench give the in-process results, bit
for bit; cached units are not sent; a unit that fails on its own is named and the others are cached. Units
needing a GPU run on the second node two at a time, each worker with its own CUDA_VISIBLE_DEVICES; the CLI
joins by address, and a worker killed mid-sweep is restarted and its unit rerun with identical rows; 'local'
starts a Ray of its own beside the cluster instead of joining it."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from saeviz.cluster import plans, ray_runner
from saeviz.cluster.ray_runner import RayOptions
from saeviz.pipeline.runner import evaluate_suite
from saeviz.pipeline.sweep import SweepSpec, run_sweep
from saeviz.pipeline.workbench import Workbench
from saeviz.sae.variants import VariantSpec
from saeviz.specs import CompressSpec, EvalSpec, ModelSpec, TrainSpec
from saeviz.store.db import Store

SPEC = SweepSpec(compression=CompressSpec(method="wanda", sparsity=0.5, n_calibration=16), sites=("resid", "mlp"),
                 layers=(1,), sae_sparsities=(0.0, 0.5), eval=EvalSpec(n_sequences=4))
KEY = ["run_key", "item", "metric"]
CLUSTER_SPEC = SweepSpec(compression=SPEC.compression, sites=("resid",), layers=(0, 1), sae_sparsities=(0.0, 0.5), eval=EvalSpec(n_sequences=4))


RAY = str(Path(sys.executable).with_name("ray"))


def _ray(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run([RAY, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def cluster():
    # lazy: ray loads only for the Ray tests
    import ray

    if ray.is_initialized():
        ray.shutdown()
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must stay under 108 bytes
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # both nodes and this driver on one machine: no auth token to share (a real cluster shares RAY_AUTH_TOKEN)
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", ray_runner.ADDRESS_ENV)}
    os.environ["RAY_AUTH_MODE"] = "disabled"
    env = {**os.environ, "RAY_ADDRESS": ""}
    head = _ray("start", "--head", "--port", str(port), "--num-cpus", "1", "--include-dashboard", "false",
                "--object-store-memory", str(150 * 2**20), "--temp-dir", str(temp), "--disable-usage-stats", env=env)
    assert head.returncode == 0, head.stderr[-2000:]
    address = next(line.split("'")[1] for line in (head.stdout + head.stderr).splitlines() if "ray start --address=" in line)
    try:
        node = _ray("start", "--address", address, "--num-cpus", "2", "--num-gpus", "2",
                    "--object-store-memory", str(100 * 2**20), "--disable-usage-stats", env=env)
        assert node.returncode == 0, node.stderr[-2000:]
        os.environ[ray_runner.ADDRESS_ENV] = address
        ray_runner.connect(address)
        yield address
    finally:
        ray_runner.release()
        ray.shutdown()
        _ray("stop", "--force", env=env)
        shutil.rmtree(temp, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _assert_same_rows(got, want):
    assert got.drop(columns="value").equals(want.drop(columns="value"))
    assert got["value"].fillna(-9.0).tolist() == want["value"].fillna(-9.0).tolist()  # bit for bit (NaN == NaN)


def _sorted(rows):
    return rows.sort_values(KEY).reset_index(drop=True)


def test_a_sweep_on_ray_gives_the_in_process_rows_and_resumes_from_the_cache(tmp_path, cluster, monkeypatch):
    ours = _sorted(run_sweep(Workbench(ModelSpec(), Store(tmp_path / "here")), SPEC))
    seen = []
    bench = Workbench(ModelSpec(), Store(tmp_path / "ray"))
    stages = plans.sweep_stages(bench, SPEC, torch.get_num_threads())
    ran = ray_runner.run_units(bench, stages, RayOptions(cpus_per_unit=2), progress=lambda d, t, m="": seen.append((d, t, m)))
    assert ran == 3
    got = _sorted(run_sweep(bench, SPEC))
    assert not bench.loaded()["base_model"]  # read back from the cache: the driver loaded no model
    _assert_same_rows(got, ours)
    assert seen[-1][:2] == (3, 3) and "s left" in seen[-1][2]  # model CEs + two units, with an estimate
    # a rerun sends nothing: every unit's runs are in the driver's cache
    monkeypatch.setattr(ray_runner, "connect", lambda *a, **k: pytest.fail("a cached sweep contacted Ray"))
    bench = Workbench(ModelSpec(), Store(tmp_path / "ray"))
    assert ray_runner.run_units(bench, plans.sweep_stages(bench, SPEC)) == 0


def test_a_failing_unit_is_named_and_the_others_are_cached(tmp_path, cluster):
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


TRAIN = TrainSpec(training_tokens=8192, batch_size_tokens=1024)
VARIANTS = (VariantSpec("pretrained"), VariantSpec("pruned", 0.5), VariantSpec("retrained", train=TRAIN),
            VariantSpec("pruned_best", train=TRAIN, sweep=(0.25, 0.5), vs_retrained=True))


def test_an_evaluation_on_ray_gives_the_in_process_rows_also_reading_a_shared_cache(tmp_path, cluster):
    where = (SPEC.compression, "resid", 1)
    ours = _sorted(evaluate_suite(Workbench(ModelSpec(), Store(tmp_path / "here")), *where, list(VARIANTS), ["core"], {"core": SPEC.eval}))
    bench = Workbench(ModelSpec(), Store(tmp_path / "driver"))
    stages = plans.eval_stages(bench, SPEC.compression, [("resid", 1, "core", VARIANTS, SPEC.eval)], torch.get_num_threads())
    kinds = [[type(u).__name__ + (f":{u.variants[0].kind}" if hasattr(u, "variants") else "") for u in s] for s in stages]
    assert kinds == [["TrainUnit"], ["EvalUnit:pretrained", "EvalUnit:pruned", "EvalUnit:retrained"], ["EvalUnit:pruned_best"]]
    # the retrained SAE first, shipped to the driver; then the evaluations, whose workers read it from the
    # driver's folder (one machine: a shared disk) instead of receiving it or training it again
    assert ray_runner.run_units(bench, stages[:1], RayOptions(cpus_per_unit=2)) == 1
    assert ray_runner.run_units(bench, stages, RayOptions(cpus_per_unit=2, shared_cache=True)) == 4
    assert len(bench.store.timings("retrain")) == 1
    got = _sorted(evaluate_suite(bench, *where, list(VARIANTS), ["core"], {"core": SPEC.eval}))
    assert not bench.loaded()["base_model"]
    assert got.drop(columns="value").equals(ours.drop(columns="value"))
    assert got["value"].tolist() == ours["value"].tolist()


def test_the_cli_computes_several_saes_latents_on_ray_as_it_does_here(tmp_path, cluster, capsys):
    from saeviz.cli.main import main

    args = ["features", "--sae", "resid/1", "--sae", "mlp/0", "--variant", "pruned50", "--rank", "most_changed", "--top", "3",
            "--sequences", "4", "--compression", "wanda-50%", "--n-calibration", "16", "--json"]
    assert main([*args, "--cache-dir", str(tmp_path / "here")]) == 0
    here = capsys.readouterr().out
    assert main([*args, "--cache-dir", str(tmp_path / "ray"), "--ray"]) == 0
    captured = capsys.readouterr()
    assert captured.out == here and len(here.splitlines()) == 2  # one JSON line per SAE, the same numbers
    assert "2 units" in captured.err  # one per SAE: pruned50's and pretrained's statistics, and the changes
    assert "features pretrained" not in captured.err and "features pruned50" not in captured.err  # all read back


def test_the_dashboard_runs_a_sweep_on_the_cluster_chosen_in_the_sidebar(tmp_path, cluster, monkeypatch):
    import time

    from streamlit.testing.v1 import AppTest

    from ui import jobs

    monkeypatch.setenv("SAEVIZ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SAEVIZ_DEMO_DIR", str(tmp_path / "no-demo"))
    app = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=300)
    app.run()
    app.switch_page("views/sweep.py").run()
    app.radio(key="run_on").set_value("Ray cluster").run()
    app.text_input(key="ray_address").set_value(cluster).run()
    assert f"Connected to {cluster}: 2 node(s), 3 CPUs, 2 GPUs" in " ".join(c.value for c in app.sidebar.caption)  # the suite's cluster
    app.number_input(key="ray_cpus").set_value(2.0)
    app.number_input(key="eval_n").set_value(4)
    app.multiselect(key="sw_layers").set_value([1])
    app.multiselect(key="sw_grid").set_value([0.5]).run()
    app.button(key="sw_run").click().run()
    assert not app.exception, app.exception
    job = next(j for j in jobs._JOBS.values() if f"on Ray ({cluster})" in j.label)
    deadline = time.monotonic() + 240
    while job.status == "running" and time.monotonic() < deadline:
        time.sleep(1)
    assert job.status == "done", job.error
    assert (job.done, job.total) == (2, 2) and job.message.endswith("s left")  # the cluster's units: model CEs, resid L1
    app.run()
    assert "all of them" in " ".join(c.value for c in app.caption)  # every result of the sweep is in the page's cache


def test_the_bench_ray_part_measures_the_same_sweep_both_ways_and_plans_the_study(cluster, capsys):
    from saeviz.bench.main import SHORT, run_ray
    from saeviz.specs import CompressSpec

    sizes = {**SHORT, "sparsities": (0.0, 0.5), "n_seq": 4, "noop_units": 50}  # the part's code at the smallest sizes
    got = run_ray(sizes, CompressSpec(method="wanda", sparsity=0.5, n_calibration=16))
    out = capsys.readouterr().out
    assert "Ray / in-process (target 1.2x)" in out and "units/s" in out and "GPU-hours" in out
    assert got["identical"] is True and got["ray_s"] > 0 and got["noop_units_per_s"] > 0
    assert got["ratio"] == got["ray_s"] / got["in_process_s"]
    study = got["study"]
    assert study["units"] == sum(s["units"] for s in study["stages"]) > 2000  # the paper's study: thousands of units
    assert study["wall_h"][1] > study["wall_h"][8] > study["wall_h"][64] > 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _sorted(run_sweep(Workbench(ModelSpec(), Store(tmp_path_factory.mktemp("here"))), CLUSTER_SPEC))


def test_gpu_units_run_one_per_gpu_each_worker_with_its_own_device(tmp_path, cluster, reference):
    import ray

    resources = ray.cluster_resources()
    assert (resources["CPU"], resources["GPU"]) == (3, 2)  # the head's CPU, the second node's 2 CPUs and 2 GPUs
    seen = []

    def record_workers(done, total, message=""):
        if done >= 1 and not seen and message.endswith("left"):  # a unit finished: the other is mid-unit
            seen.extend(ray_runner.pool_info())

    bench = Workbench(ModelSpec(), Store(tmp_path / "ray"))
    ray_runner.run_units(bench, plans.sweep_stages(bench, CLUSTER_SPEC, torch.get_num_threads()),
                         RayOptions(address=cluster, gpus_per_unit=1), progress=record_workers)
    # two workers at once (two GPUs, one each), each seeing only its own device; a killed worker's rerun is
    # the next test's (the CLI's)
    assert sorted(i["cuda_visible_devices"] for i in seen) == ["0", "1"]
    assert len({i["pid"] for i in seen}) == 2
    _assert_same_rows(_sorted(run_sweep(bench, CLUSTER_SPEC)), reference)


def test_the_cli_joins_the_cluster_by_address_and_a_killed_worker_changes_no_row(tmp_path, cluster, reference):
    import time

    import pandas as pd

    assert ray_runner.release() >= 0  # this test's driver gives its workers' CPUs back to the cluster
    csv = tmp_path / "rows.parquet"  # exact floats
    cli = subprocess.Popen([sys.executable, "-m", "saeviz", "sweep", "--method", "wanda", "--sparsity", "0.5", "--n-calibration", "16",
                            "--sites", "resid", "--layers", "0,1", "--sae-sparsities", "0,0.5", "--eval-sequences", "4",
                            "--ray", cluster, "--cpus-per-unit", "2", "--cache-dir", str(tmp_path / "cli"), "--export", str(csv)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "RAY_ADDRESS": ""})
    killed, deadline = None, time.time() + 240
    while killed is None and cli.poll() is None and time.time() < deadline:  # a worker busy with a unit: kill it
        ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        busy = [int(line.split()[0]) for line in ps.splitlines() if "ray::_UnitWorker.run" in line]
        if busy:
            killed = busy[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    out, err = cli.communicate(timeout=300)
    assert cli.returncode == 0, err[-3000:]
    assert killed is not None  # the sweep was still running when its worker died
    got = _sorted(pd.read_parquet(csv))
    assert got[KEY].equals(reference[KEY])
    assert got["value"].fillna(-9.0).tolist() == reference["value"].fillna(-9.0).tolist()


def test_local_starts_a_ray_of_its_own_beside_a_running_cluster(cluster):
    # Ray's default (no address) would join the cluster started on this machine; 'local' must not
    code = ("from saeviz.cluster import ray_runner; import ray; ray_runner.connect('local', num_cpus=2); "
            "r = ray.cluster_resources(); print(len(ray.nodes()), r['CPU'], r.get('GPU', 0), ray_runner.noop_rate(20) > 0)")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", ray_runner.ADDRESS_ENV)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["1", "2.0", "0", "True"]  # one node, its 2 CPUs, no GPU: not the cluster's 3 CPUs and 2 GPUs
