"""The suite's real Ray cluster (tests/conftest.py: `ray start --head`, 1 CPU, and a second node with 2 CPUs and 2
declared GPUs), joined by address. Units needing a GPU run on the second node two at a time, each worker
with its own CUDA_VISIBLE_DEVICES; workers killed mid-sweep are restarted and their units rerun with rows
identical to the in-process sweep; the CLI joins by address; a command given 'local' starts a Ray of its
own beside the cluster instead of joining it."""

import os
import signal
import subprocess
import sys

import pytest
import torch

from saeviz.cluster import plans, ray_runner
from saeviz.cluster.ray_runner import RayOptions
from saeviz.pipeline.sweep import SweepSpec, run_sweep
from saeviz.pipeline.workbench import Workbench
from saeviz.specs import CompressSpec, EvalSpec, ModelSpec
from saeviz.store.db import Store

SPEC = SweepSpec(compression=CompressSpec(method="wanda", sparsity=0.5, n_calibration=16), sites=("resid",),
                 layers=(0, 1), sae_sparsities=(0.0, 0.5), eval=EvalSpec(n_sequences=4))
KEY = ["run_key", "item", "metric"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _rows(run_sweep(Workbench(ModelSpec(), Store(tmp_path_factory.mktemp("here"))), SPEC))


def _rows(rows):
    return rows.sort_values(KEY).reset_index(drop=True)


def test_gpu_units_run_one_per_gpu_and_killed_workers_rerun_them_to_the_same_rows(tmp_path, cluster, reference):
    import ray

    resources = ray.cluster_resources()
    assert (resources["CPU"], resources["GPU"]) == (3, 2)  # the head's CPU, the second node's 2 CPUs and 2 GPUs
    killed = []

    def kill_every_worker_once(done, total, message=""):
        if done >= 1 and not killed and message.endswith("left"):  # a unit finished: the other is mid-unit
            for info in ray_runner.pool_info():
                killed.append(info)
                os.kill(info["pid"], signal.SIGKILL)

    bench = Workbench(ModelSpec(), Store(tmp_path / "ray"))
    ray_runner.run_units(bench, plans.sweep_stages(bench, SPEC, torch.get_num_threads()),
                         RayOptions(address=cluster, gpus_per_unit=1), progress=kill_every_worker_once)
    got = run_sweep(bench, SPEC)
    # two workers (two GPUs, one each), both killed once and restarted
    assert sorted(i["cuda_visible_devices"] for i in killed) == ["0", "1"]
    after = ray_runner.pool_info()
    assert len(after) == 2 and not {i["pid"] for i in killed} & {i["pid"] for i in after}
    got = _rows(got)
    assert got.drop(columns="value").equals(reference.drop(columns="value"))
    assert got["value"].fillna(-9.0).tolist() == reference["value"].fillna(-9.0).tolist()


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
    got = _rows(pd.read_parquet(csv))
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
