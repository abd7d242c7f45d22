"""The public API: what ``import saeviz`` exports (lazily), and the README's "From Python" example."""

import json
import math
import os
import re
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest

import saeviz

REPO = Path(__file__).resolve().parents[1]
CONSTANTS = {"__version__", "DENSE", "SITES", "COMPRESSORS", "EVALS"}  # values, not classes or functions


def _python(code: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter from the repository root (where a notebook would import saeviz)."""
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("name", saeviz.__all__)
def test_every_export_resolves_into_saeviz(name):
    obj = getattr(saeviz, name)
    if name == "__version__":
        assert isinstance(obj, str) and obj
        return
    module, _, attr = saeviz._EXPORTS[name].partition(":")
    assert obj is getattr(import_module(module), attr)  # the name is the object its home module holds
    if name in CONSTANTS and not isinstance(obj, type) and not callable(obj):
        return
    assert getattr(obj, "__module__", "").startswith("saeviz"), f"saeviz.{name} comes from {obj.__module__!r}"


def test_exports_are_listed_and_unknown_names_fail():
    assert set(saeviz.__all__) <= set(dir(saeviz))
    assert len(saeviz.__all__) == len(set(saeviz.__all__))
    assert {"ModelSpec", "Workbench", "evaluate", "wide", "Store", "SaevizError"} <= set(saeviz.__all__)
    assert issubclass(saeviz.LoadError, saeviz.SaevizError)
    with pytest.raises(AttributeError, match="'saeviz'.*no_such_name"):
        saeviz.no_such_name


def test_import_is_cheap():
    """``import saeviz`` loads neither torch nor streamlit; neither does reading a spec, or the CLI's --help."""
    code = (
        "import json, runpy, sys\n"
        "import saeviz\n"
        "bare = {m: m in sys.modules for m in ('torch', 'streamlit')}\n"
        "saeviz.ModelSpec(); saeviz.CompressSpec(method='wanda', sparsity=0.5); saeviz.EvalSpec()\n"
        "specs = {m: m in sys.modules for m in ('torch', 'streamlit')}\n"
        "sys.argv = ['saeviz', '--help']\n"
        "try:\n"
        "    runpy.run_module('saeviz', run_name='__main__', alter_sys=True)\n"
        "except SystemExit:\n"
        "    pass\n"
        "cli = {m: m in sys.modules for m in ('torch', 'streamlit')}\n"
        "print(json.dumps({'bare': bare, 'specs': specs, 'cli': cli}), file=sys.stderr)\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stderr.strip().splitlines()[-1])
    assert loaded["bare"] == {"torch": False, "streamlit": False}
    assert loaded["specs"] == {"torch": False, "streamlit": False}
    assert loaded["cli"] == {"torch": False, "streamlit": False}


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    section = re.search(r"^## From Python\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no '## From Python' section"
    code = re.search(r"```python\n(.*?)```", section.group(1), re.S)
    assert code, "the '## From Python' section has no ```python block"
    return code.group(1)


def test_readme_example_runs(tmp_path):
    done = _python(readme_example(), env={"SAEVIZ_CACHE_DIR": str(tmp_path / "cache")}, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    ce = re.search(r"CE dense (\S+), wanda-50% (\S+)", out)
    assert ce, out
    dense, compressed = float(ce.group(1)), float(ce.group(2))
    assert math.isfinite(dense) and math.isfinite(compressed)
    assert 0 < dense < compressed, out  # pruning half the weights costs some loss

    header = next(line.split() for line in out.splitlines() if "pretrained" in line)
    assert header == ["eval", "item", "metric", "pretrained", "pruned50"], out
    table = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "core":  # the item column is empty: eval, metric, two values
            table[parts[1]] = {"pretrained": float(parts[2]), "pruned50": float(parts[3])}
    assert set(table) == {"mse", "explained_variance", "l0", "ce_loss_with_sae"}, out
    for metric, values in table.items():
        assert all(math.isfinite(v) for v in values.values()), (metric, values)
    assert table["l0"]["pruned50"] > 0
    assert table["ce_loss_with_sae"]["pruned50"] > 0
    assert table["mse"]["pruned50"] > table["mse"]["pretrained"]  # pruning the SAE's own weights costs reconstruction
    assert 0 < table["explained_variance"]["pruned50"] < 1
