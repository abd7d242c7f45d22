"""Security: the dashboard listens on localhost, typed paths stay in their folder, weights are never unpickled."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from saeviz.errors import UnsafePathError
from saeviz.model.load import FORCE_WEIGHTS_ONLY, weights_only_loads
from saeviz.store.safe_paths import resolve_inside

REPO = Path(__file__).resolve().parents[2]


# --- the dashboard's address -----------------------------------------------------------------------
def _streamlit_address(env_address: str | None) -> str:
    """server.address as `streamlit run` would take it: config files, then STREAMLIT_* variables."""
    env = {k: v for k, v in os.environ.items() if k != "STREAMLIT_SERVER_ADDRESS"}
    if env_address:
        env["STREAMLIT_SERVER_ADDRESS"] = env_address
    # run where `make app` runs streamlit: the repository root, whose .streamlit/config.toml applies
    result = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    server = result.stdout.split("[server]", 1)[1].split("\n[", 1)[0]
    return re.search(r'^address = "(.*)"$', server, re.M).group(1)


def test_dashboard_listens_on_localhost_unless_told_otherwise():
    assert _streamlit_address(None) == "127.0.0.1"
    assert _streamlit_address("0.0.0.0") == "0.0.0.0"
    app_line = next(line for line in (REPO / "Makefile").read_text().splitlines() if "streamlit run" in line)
    assert "--server.address" not in app_line  # `make app` keeps the config's address


# --- typed paths stay inside their folder ----------------------------------------------------------
@pytest.fixture
def exports(tmp_path):
    base = tmp_path / "exports"
    (base / "sub").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (base / "out-link").symlink_to(tmp_path / "secret", target_is_directory=True)
    (base / "file-link.csv").symlink_to(tmp_path / "secret" / "keys.csv")
    (base / "in-link").symlink_to(base / "sub", target_is_directory=True)
    return base


@pytest.mark.parametrize("typed, expected", [
    ("rows.csv", "rows.csv"), ("sub/rows.parquet", "sub/rows.parquet"), ("in-link/rows.csv", "sub/rows.csv"),
])
def test_paths_inside_the_folder_resolve(exports, typed, expected):
    assert resolve_inside(exports, typed) == (exports / expected).resolve()
    assert resolve_inside(exports, str(exports / typed)) == (exports / expected).resolve()  # absolute, inside


@pytest.mark.parametrize("typed, reason", [
    ("../rows.csv", "climbs out"), ("sub/../../rows.csv", "climbs out"), ("sub/../rows.csv", "climbs out"),
    ("/etc/passwd", "points outside"), ("out-link/keys.csv", "points outside"), ("file-link.csv", "points outside"),
    (".", "the folder itself"), ("", "empty"), ("rows\x00.csv", "NUL"),
])
def test_path_tricks_are_refused(exports, typed, reason):
    with pytest.raises(UnsafePathError, match=reason) as info:
        resolve_inside(exports, typed)
    assert "give a plain file name" in str(info.value)


# --- weights are never unpickled -------------------------------------------------------------------
class _Marker:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_weights_only_loads_overrides_a_library_asking_for_pickles(tmp_path, monkeypatch):
    monkeypatch.delenv(FORCE_WEIGHTS_ONLY, raising=False)
    marker = tmp_path / "unpickled"
    torch.save({"w": torch.ones(2), "evil": _Marker(marker)}, tmp_path / "model.pth")
    torch.save({"w": torch.ones(2)}, tmp_path / "plain.pth")
    with weights_only_loads():
        with weights_only_loads():  # nested (two threads loading at once) keeps it on until the last exits
            pass
        assert os.environ[FORCE_WEIGHTS_ONLY] == "1"
        with pytest.raises(Exception, match="Weights only load failed"):
            torch.load(tmp_path / "model.pth", weights_only=False)  # what transformer_lens' hub loader asks for
        assert torch.equal(torch.load(tmp_path / "plain.pth", weights_only=False)["w"], torch.ones(2))
    assert not marker.exists()
    assert FORCE_WEIGHTS_ONLY not in os.environ  # restored


def test_hub_loads_run_under_weights_only(monkeypatch, tiny_model):
    from transformer_lens import HookedTransformer

    import saeviz.model.load

    seen = []

    def fake_from_pretrained(name, **kwargs):
        seen.append(os.environ.get(FORCE_WEIGHTS_ONLY))
        return tiny_model

    monkeypatch.delenv(FORCE_WEIGHTS_ONLY, raising=False)
    monkeypatch.setattr(saeviz.model.load, "hub_reachable", lambda: True)
    monkeypatch.setattr(saeviz.model.load, "_hub_model_fits", lambda *a: None)
    monkeypatch.setattr(HookedTransformer, "from_pretrained", fake_from_pretrained)
    from saeviz.specs import ModelSpec

    assert saeviz.model.load.load_model(ModelSpec(name="gpt2-small", device="cpu")) is tiny_model
    assert seen == ["1"] and FORCE_WEIGHTS_ONLY not in os.environ


def test_no_unsafe_loads_in_the_project():
    """Every torch.load in saeviz/, ui/, views/, benchmarks/ and scripts/ says weights_only=True; nothing imports pickle."""
    offenders = []
    for folder in ("saeviz", "ui", "views", "benchmarks", "scripts"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text()
            for call in re.findall(r"torch\.load\([^)]*\)", text):
                if "weights_only=True" not in call:
                    offenders.append(f"{path.relative_to(REPO)}: {call}")
            if re.search(r"^\s*(import pickle|from pickle import|import dill|import joblib)", text, re.M):
                offenders.append(f"{path.relative_to(REPO)}: imports a pickle module")
    assert offenders == []
