"""The cache folder missing or read-only, and requests too large for memory: one sentence, before any work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from saeviz.errors import ResourceError, SaevizError
from saeviz.specs import DENSE, CompressSpec, ModelSpec
from saeviz.store.db import CacheReadOnly, Store
from saeviz.store.keys import acts_key

REPO = Path(__file__).resolve().parents[2]
RUN = {"run_key": "k1", "model": "m", "compression": "dense", "site": "resid", "layer": 0, "variant": "dense"}


def test_a_missing_cache_folder_reads_as_empty_and_is_created_by_the_first_write(tmp_path):
    root = tmp_path / "not" / "there"
    store = Store(root)
    assert store.metrics().empty and store.get_tensors("acts", "k") is None and store.timings().empty
    assert not root.exists()  # reading creates nothing
    store.put_metrics(RUN, {"mse": 0.5})
    assert store.run_metrics("k1") == {"mse": 0.5}


def _as_reader_who_cannot_write(folder: Path, script: str) -> subprocess.CompletedProcess:
    """Run ``script`` in a process that cannot write ``folder`` (mode 555; root also loses CAP_DAC_OVERRIDE,
    which otherwise lets it write anywhere)."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "running as root: util-linux's setpriv is needed to drop the right to write anywhere"
        caps = "-dac_override,-dac_read_search"
        prefix = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]
    try:
        return subprocess.run([*prefix, sys.executable, "-c", textwrap.dedent(script), str(folder)], cwd=REPO,
                              capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    finally:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


READ_ONLY_CHECKS = """
    import sys, torch
    from pathlib import Path
    from saeviz.store.db import CacheReadOnly, Store
    from saeviz.errors import SaevizError

    root = Path(sys.argv[1])
    store = Store(root, lock_timeout_s=5)
    assert store.run_metrics("k1") == {"mse": 0.5}, store.run_metrics("k1")
    assert torch.equal(store.get_tensors("acts", "a")["x"], torch.arange(3.0))
    assert len(store.timings()) == 1
    for write in (lambda: store.put_metrics({"run_key": "k2", "model": "m"}, {"mse": 1.0}),
                  lambda: store.put_tensors("acts", "b", {"x": torch.ones(1)}),
                  lambda: store.put_timing("j2", "eval", "label", 1.0)):
        try:
            write()
            raise SystemExit("a write to a read-only cache was not refused")
        except CacheReadOnly as exc:
            assert isinstance(exc, SaevizError)
            print(exc)
    print("reads ok")
"""


def _filled_cache(root: Path, with_lock_file: bool) -> None:
    store = Store(root)
    store.put_metrics(RUN, {"mse": 0.5})
    store.put_tensors("acts", "a", {"x": torch.arange(3.0)})
    store.put_timing("j1", "eval", "label", 1.0)
    if not with_lock_file:  # a cache copied from elsewhere: only the database and arrays
        (root / "saeviz.lock").unlink()


@pytest.mark.parametrize("with_lock_file", [True, False], ids=["lock-file", "no-lock-file"])
def test_a_read_only_cache_serves_reads_and_refuses_writes_in_one_sentence(tmp_path, with_lock_file):
    root = tmp_path / "cache"
    _filled_cache(root, with_lock_file)
    done = _as_reader_who_cannot_write(root, READ_ONLY_CHECKS)
    assert done.returncode == 0, done.stderr[-3000:]
    refusals = done.stdout.splitlines()[:-1]
    assert done.stdout.splitlines()[-1] == "reads ok" and len(refusals) == 3
    for sentence in refusals:  # one sentence: what is wrong, and what to do
        assert sentence.count(". ") == 0 and "read-only" in sentence and "SAEVIZ_CACHE_DIR" in sentence, sentence
    assert (with_lock_file) == (root / "saeviz.lock").exists()  # the reader created nothing in the folder


WORKBENCH_READ_ONLY = """
    import sys, torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from saeviz.pipeline.workbench import Workbench
    from saeviz.specs import DENSE, CompressSpec, ModelSpec
    from saeviz.store.db import CacheReadOnly, Store

    cfg = HookedTransformerConfig(n_layers=2, d_model=32, d_head=8, n_heads=4, d_mlp=64, d_vocab=100, n_ctx=16,
                                  act_fn="gelu", normalization_type="LN", seed=0, device="cpu")
    model = HookedTransformer(cfg).eval()
    calls = []
    model.run_with_cache = lambda *a, **k: calls.append(1)  # any forward pass would be recorded
    bench = Workbench(ModelSpec(), Store(sys.argv[1]), model=model, tokens={"eval": torch.zeros(4, 16, dtype=torch.long),
                      "calibration": torch.zeros(4, 16, dtype=torch.long)})
    for work in (lambda: bench.activations(DENSE, "blocks.0.hook_resid_post", "eval", 4),
                 lambda: bench.compressed(CompressSpec(method="wanda", sparsity=0.5, n_calibration=4))):
        try:
            work()
            raise SystemExit("work started on a read-only cache")
        except CacheReadOnly as exc:
            print(exc)
    assert not calls, "a forward pass ran before the refusal"
"""


def test_the_workbench_refuses_work_it_could_not_store_before_starting_it(tmp_path):
    root = tmp_path / "cache"
    _filled_cache(root, with_lock_file=True)
    done = _as_reader_who_cannot_write(root, WORKBENCH_READ_ONLY)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(done.stdout.splitlines()) == 2 and all("read-only" in line for line in done.stdout.splitlines())


def test_stale_temp_names_carry_host_and_pid():
    from saeviz.store.atomic import is_stale_temp, temp_sibling

    mine = temp_sibling(Path("/x/a.safetensors"))
    assert mine.parent == Path("/x") and not is_stale_temp(mine)  # this process is alive
    assert is_stale_temp(Path(f"/x/a.safetensors.tmp{2**22 + 12345}"))  # above pid_max: no such process
    assert not is_stale_temp(Path(f"/x/a.safetensors.tmp{2**22 + 12345}-another_host"))  # maybe alive elsewhere
    assert not is_stale_temp(Path("/x/a.safetensors"))


# --- memory: estimated and refused before the work starts ------------------------------------------

@pytest.fixture
def bench(tiny_model, tiny_tokens, tmp_path):
    from saeviz.pipeline.workbench import Workbench

    return Workbench(ModelSpec(), Store(tmp_path), model=tiny_model,
                     tokens={"eval": tiny_tokens, "calibration": tiny_tokens})


def _free_memory(monkeypatch, n_bytes: int) -> None:
    import saeviz.resources

    monkeypatch.setattr(saeviz.resources, "available_bytes", lambda device="cpu": n_bytes)


def test_activations_too_large_for_memory_are_refused_before_any_forward_pass(bench, monkeypatch):
    # 8 x 16 tokens x d_model 32 x 4 bytes = 16 KiB, twice at the peak: 32 KiB needed
    calls = []
    monkeypatch.setattr(bench.base_model, "run_with_cache", lambda *a, **k: calls.append(1))
    _free_memory(monkeypatch, 30 * 1024)  # 90% usable: 27 KiB
    with pytest.raises(ResourceError, match=r"caching activations of 128 tokens x 32 .* needs about 32\.0 KiB but only 30\.0 KiB"):
        bench.activations(DENSE, "blocks.0.hook_resid_post", "eval", 8)
    assert not calls and not (bench.store.root / "arrays").exists()


def test_activations_that_fit_are_collected(bench, monkeypatch):
    _free_memory(monkeypatch, 36 * 1024)  # 90%: 32.4 KiB >= 32 KiB
    acts = bench.activations(DENSE, "blocks.0.hook_resid_post", "eval", 8)
    assert acts.shape == (128, 32)
    # the layer's other sites (another 64 KiB twice over) did not fit, so they were left for later
    assert not bench.store.array_path("acts", acts_key(bench.compress_key(DENSE), "blocks.0.hook_mlp_out", "eval", 8)).is_file()


def test_the_sibling_sites_of_a_layer_come_along_when_they_fit(bench, monkeypatch):
    _free_memory(monkeypatch, 1 << 20)
    calls = []
    real = bench.base_model.run_with_cache
    monkeypatch.setattr(bench.base_model, "run_with_cache", lambda *a, **k: calls.append(1) or real(*a, **k))
    bench.activations(DENSE, "blocks.0.hook_resid_post", "eval", 8)
    n_passes = len(calls)
    mlp = bench.activations(DENSE, "blocks.0.hook_mlp_out", "eval", 8)
    assert n_passes > 0 and mlp.shape == (128, 32) and len(calls) == n_passes  # served from the first collection


def test_a_compressed_copy_too_large_for_memory_is_refused_before_compressing(bench, monkeypatch):
    import saeviz.pipeline.compressed

    n_bytes = sum(t.numel() * t.element_size() for t in [*bench.base_model.parameters(), *bench.base_model.buffers()])
    monkeypatch.setattr(saeviz.pipeline.compressed, "compress_model", lambda *a, **k: pytest.fail("compression started"))
    _free_memory(monkeypatch, n_bytes)  # only 90% of it is usable
    with pytest.raises(ResourceError, match="magnitude-50% copy of the model needs about"):
        bench.compressed(CompressSpec(method="magnitude", sparsity=0.5))
    assert bench.compressed(DENSE) is bench.base_model  # the dense model is no copy: never refused


@pytest.mark.parametrize("hook", ["blocks.1.hook_resid_post", "blocks.0.hook_mlp_out", "blocks.1.attn.hook_z",
                                  "blocks.0.mlp.hook_post", "blocks.0.attn.hook_q"])
def test_hook_width_is_the_width_activations_have(tiny_model, tiny_tokens, hook):
    from saeviz.model.activations import collect_activations
    from saeviz.model.hooks import hook_width

    assert collect_activations(tiny_model, hook, tiny_tokens[:2]).shape[1] == hook_width(tiny_model.cfg, hook)


def test_refusals_are_errors_the_user_can_act_on():
    assert issubclass(CacheReadOnly, SaevizError) and issubclass(ResourceError, SaevizError)
