"""`python -m saeviz bench --short`, as CI runs it: every part prints its figures and the two sweep paths agree."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_short_benchmark_prints_every_figure(tmp_path):
    out_json = tmp_path / "bench.json"
    env = {**os.environ, "SAEVIZ_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "saeviz", "bench", "--short", "--json", str(out_json)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout
    for needle in ("cold (computed", "warm (read from the database)", "speed-up", "largest relative difference",
                   "retrain (", "gpt2-small-shaped", "peak RSS", "evaluation sequences", "d_sae", "all parts"):
        assert needle in text, needle
    figures = json.loads(out_json.read_text())
    assert set(figures) == {"slider", "sweep", "retrain", "wanda", "scaling", "features"}
    assert figures["sweep"]["max_rel_diff"] <= 1e-4
    assert figures["wanda"]["gpt2-small-shaped"]["parameters"] > 1e8
    print(text)  # the figures, in the test log
