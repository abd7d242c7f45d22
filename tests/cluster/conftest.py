"""One real Ray cluster for every Ray test of the run, started once: `ray start --head` on 127.0.0.1 (1 CPU,
no dashboard, a small object store) and a second node joined with `ray start --address` (2 CPUs and 2
declared GPUs). This process is its driver, connected by address; SAEVIZ_RAY_ADDRESS points there, so
commands given no address (`--ray`, the bench) use it too."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from saeviz.cluster import ray_runner

RAY = str(Path(sys.executable).with_name("ray"))


def _ray(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run([RAY, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="session")
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
