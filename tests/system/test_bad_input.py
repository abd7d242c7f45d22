"""Bad input, as a new user would give it, is answered by one sentence that says what to change.

The CLI exits 2 with a single `error:` line (no traceback); the dashboard shows the same sentence
(the pages catch SaevizError/ValueError). Weights offered as pickles are refused without being
unpickled: the pickles here create a marker file if anything ever unpickles them.
"""

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from conftest import build_sae
from safetensors.torch import save_file

from saeviz.cli.main import main
from saeviz.errors import LoadError, ResourceError, SaevizError, UnsafeWeightsError
from saeviz.model.load import check_safetensors, load_model
from saeviz.resources import (
    ensure_fits,
    estimate_activation_cache_bytes,
    estimate_latent_bytes,
    estimate_model_load_bytes,
    transformer_parameters,
)
from saeviz.sae.load import load_sae
from saeviz.specs import CompressSpec, ModelSpec, SaeSpec

APP = Path(__file__).resolve().parents[2] / "app.py"


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]  # others: transformers' progress bars
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- compression settings ------------------------------------------------------------------------
@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5])
def test_sparsity_outside_unit_interval(sparsity, capsys, tmp_path):
    with pytest.raises(ValueError, match=r"fraction in \[0, 1\)"):
        CompressSpec(sparsity=sparsity)
    assert main(["compress", "--sparsity", str(sparsity), "--cache-dir", str(tmp_path)]) == 2
    assert "fraction in [0, 1)" in one_error_line(capsys)


@pytest.mark.parametrize("n_m, sparsity, expected", [
    ((2, 4), None, 0.5), ((4, 8), None, 0.5), ((2, 4), 0.5, 0.5),  # the default agrees with 2:4 and 4:8
    ((2, 8), None, 0.75), ((1, 4), 0.75, 0.75), (None, None, 0.5),
])
def test_n_m_sets_its_own_sparsity(n_m, sparsity, expected):
    assert CompressSpec(n_m=n_m, sparsity=sparsity).sparsity == expected


def test_n_m_contradicted_by_an_explicit_sparsity(capsys, tmp_path):
    with pytest.raises(ValueError, match="sparsity 0.75, but sparsity=0.5 was also given"):
        CompressSpec(n_m=(2, 8), sparsity=0.5)
    with pytest.raises(ValueError, match="drop the per-layer sparsities"):
        CompressSpec(n_m=(2, 4), layer_sparsity={0: 0.3})
    assert main(["compress", "--n-m", "2:8", "--sparsity", "0.5", "--cache-dir", str(tmp_path)]) == 2
    assert "set it to 0.75" in one_error_line(capsys)


# --- SAEs that do not fit, names that do not exist, no network -----------------------------------
@pytest.mark.parametrize("d_in, hook, reason", [
    (48, "blocks.0.hook_mlp_out", "expects d_in=48"),
    (32, "blocks.7.hook_resid_post", "does not have"),
])
def test_info_with_an_unfit_sae_exits_non_zero(d_in, hook, reason, gpt2_checkpoint, tmp_path, capsys):
    path, _ = gpt2_checkpoint
    build_sae("topk", d_in, 64, hook).save_model(tmp_path / "sae")
    assert main(["info", "--model", str(path), "--sae", str(tmp_path / "sae"), "--device", "cpu"]) == 2
    assert reason in one_error_line(capsys)
    build_sae("topk", 32, 64, "blocks.0.hook_mlp_out").save_model(tmp_path / "good")
    assert main(["info", "--model", str(path), "--sae", str(tmp_path / "good"), "--device", "cpu"]) == 0



@pytest.mark.parametrize("argv, message", [
    (["--model", "gpt-seventeen"], "neither a transformer_lens model name"),
    (["--model", "pythia-70m-deduped"], "cannot be reached from here"),
    (["--model", "./no/such/checkpoint"], "does not exist"),
])
def test_unknown_or_unreachable_names(argv, message, offline, capsys):
    assert main(["info", *argv, "--device", "cpu"]) == 2
    assert message in one_error_line(capsys)


def test_unknown_release_suggests_the_close_one(offline):
    with pytest.raises(LoadError, match="Did you mean gpt2-small-res-jb"):
        load_sae(SaeSpec.parse("gpt2-small-res-jbb/blocks.8.hook_resid_pre"))


# --- truncated and corrupt safetensors -----------------------------------------------------------
def test_check_safetensors_counts_values(tmp_path):
    save_file({"a": torch.zeros(2, 3), "b": torch.ones(4)}, str(tmp_path / "w.safetensors"))
    assert check_safetensors(tmp_path / "w.safetensors") == 2 * 3 + 4


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    damaged = {"header": data[:6], "data": data[:-100], "garbage": os.urandom(len(data)),
               "json": data[:8] + b"{not json" + data[17:]}[how]
    path.write_bytes(damaged)


@pytest.mark.parametrize("how", ["header", "data", "garbage", "json"])
def test_damaged_sae_weights_name_the_file(how, tmp_path):
    build_sae("jumprelu", 32, 64, "blocks.0.hook_resid_post").save_model(tmp_path)
    _damage(tmp_path / "sae_weights.safetensors", how)
    with pytest.raises(LoadError, match="(truncated|corrupt).*re-download or re-save") as info:
        load_sae(SaeSpec.parse(str(tmp_path)), device="cpu")
    assert "sae_weights.safetensors" in str(info.value) and "\n" not in str(info.value)


def test_damaged_checkpoint_and_token_files(gpt2_checkpoint, tmp_path, capsys):
    import shutil

    source, _ = gpt2_checkpoint
    shutil.copytree(source, tmp_path / "ckpt")
    _damage(tmp_path / "ckpt" / "model.safetensors", "data")
    assert main(["info", "--model", str(tmp_path / "ckpt"), "--device", "cpu"]) == 2
    assert "model.safetensors is truncated" in one_error_line(capsys)
    (tmp_path / "tokens").mkdir()
    fp = {"name": "t", "vocab_size": 1, "vocab_hash": "0", "bos": 0, "eos": 0}
    (tmp_path / "tokens" / "tokens.json").write_text(json.dumps({"tokenizer": fp, "key": "k"}))
    save_file({"input_ids": torch.zeros(4, 8, dtype=torch.long)}, str(tmp_path / "tokens" / "eval.safetensors"))
    _damage(tmp_path / "tokens" / "eval.safetensors", "header")
    from saeviz.tokens.tokenset import load_split

    with pytest.raises(LoadError, match="eval.safetensors is truncated"):
        load_split(str(tmp_path / "tokens"), "eval")


# --- pickles are refused, never unpickled --------------------------------------------------------
class _Marker:
    """Unpickling this creates the file it names: proof that something unpickled it."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _write_pickle(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(_Marker(marker)))


def test_pickled_sae_weights_are_refused(tmp_path):
    marker = tmp_path / "unpickled"
    sae_dir = tmp_path / "sae"
    build_sae("standard", 32, 64, "blocks.0.hook_resid_post").save_model(sae_dir)
    (sae_dir / "sae_weights.safetensors").unlink()
    _write_pickle(sae_dir / "sae_weights.pt", marker)
    with pytest.raises(UnsafeWeightsError, match="never unpickles: convert them to safetensors"):
        load_sae(SaeSpec.parse(str(sae_dir)), device="cpu")
    assert not marker.exists()


def test_pickled_checkpoint_is_refused_and_a_stray_pickle_ignored(gpt2_checkpoint, tmp_path, capsys):
    import shutil

    source, _ = gpt2_checkpoint
    marker = tmp_path / "unpickled"
    pickled = tmp_path / "pickled"
    shutil.copytree(source, pickled)
    (pickled / "model.safetensors").unlink()
    _write_pickle(pickled / "pytorch_model.bin", marker)
    assert main(["info", "--model", str(pickled), "--device", "cpu"]) == 2
    assert "safe_serialization=True" in one_error_line(capsys)
    # next to real safetensors weights a pickle (e.g. a trainer's training_args.bin) is never read
    shutil.copytree(source, tmp_path / "mixed")
    _write_pickle(tmp_path / "mixed" / "pytorch_model.bin", marker)
    _write_pickle(tmp_path / "mixed" / "training_args.bin", marker)
    load_model(ModelSpec(name=str(tmp_path / "mixed"), device="cpu"))
    assert not marker.exists()


def test_dashboard_shows_the_refusal_in_one_line(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    marker = tmp_path / "unpickled"
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    _write_pickle(tmp_path / "ckpt" / "pytorch_model.bin", marker)
    monkeypatch.setenv("SAEVIZ_CACHE_DIR", str(tmp_path / "cache"))
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.session_state["model_name"] = str(tmp_path / "ckpt")
    app.run()
    assert not app.exception
    assert "never unpickles" in app.error[0].value and "\n" not in app.error[0].value
    assert not marker.exists()


# --- cache folders ---------------------------------------------------------------------------------
@pytest.fixture
def read_only_dir(tmp_path):
    """A folder this process cannot write in. root ignores permission bits, so as root: /sys."""
    if os.geteuid() == 0:
        yield Path("/sys")
        return
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def test_unusable_cache_folders_are_refused_before_work(read_only_dir, tmp_path, capsys):
    assert main(["compress", "--cache-dir", str(read_only_dir)]) == 2
    assert "read-only" in one_error_line(capsys)
    assert main(["compress", "--cache-dir", str(read_only_dir / "new-cache")]) == 2
    assert "cannot be created" in one_error_line(capsys)
    (tmp_path / "a-file").write_text("")
    assert main(["compress", "--cache-dir", str(tmp_path / "a-file")]) == 2
    assert "is a file, not a folder" in one_error_line(capsys)


def test_missing_cache_folder_is_created(tmp_path):
    from saeviz.store.safe_paths import ensure_writable_dir

    folder = ensure_writable_dir(tmp_path / "new" / "cache")
    assert folder.is_dir() and list(folder.iterdir()) == []  # the write probe leaves nothing behind


# --- requests too large for memory ---------------------------------------------------------------
def test_estimates_are_products_of_shapes():
    assert estimate_activation_cache_bytes(1000, 128) == 1000 * 128 * 4
    assert estimate_latent_bytes(1000, 1024) == 1000 * 1024 * 4
    assert estimate_latent_bytes(10, 8, bytes_per_value=2) == 160
    # d_model 4, 2 heads of 2, d_mlp 8, 1 layer, vocab 10, 5 positions, LayerNorm (counted by hand):
    # embed 40 + pos 20; attn QKV 3*(2*2*4 + 2*2) = 60, O 16 + 4; mlp 32+8 + 32+4; ln1, ln2, ln_final 3*8; unembed 40+10
    cfg = dict(d_model=4, n_heads=2, d_head=2, d_mlp=8, n_layers=1, d_vocab=10, n_ctx=5, normalization_type="LN")
    assert transformer_parameters(cfg) == 290
    assert estimate_model_load_bytes(290, "float32") == 290 * 4 * 3
    assert estimate_model_load_bytes(290, torch.bfloat16, copies=1) == 580


def test_parameter_count_matches_transformer_lens(tiny_model):
    assert transformer_parameters(tiny_model.cfg) == sum(p.numel() for p in tiny_model.parameters())


def test_ensure_fits_says_needed_free_and_what_to_change():
    ensure_fits(800, "a small cache", available=1000)
    with pytest.raises(ResourceError, match=r"a big cache needs about 2.0 GiB but only 1.0 GiB of memory is free: ask for less"):
        ensure_fits(2 << 30, "a big cache", available=1 << 30)


def test_model_too_large_is_refused_before_loading(gpt2_checkpoint, monkeypatch, capsys):
    import saeviz.model.load
    import saeviz.resources

    path, _ = gpt2_checkpoint
    monkeypatch.setattr(saeviz.resources, "_available_ram", lambda: 100_000)  # 100 kB free
    monkeypatch.setattr(saeviz.model.load, "load_dense_hf", lambda *a: pytest.fail("loading started"))
    assert main(["info", "--model", str(path), "--device", "cpu"]) == 2
    line = one_error_line(capsys)
    assert "M parameters" in line and "but only 97.7 KiB of memory is free" in line
    assert issubclass(ResourceError, SaevizError)
