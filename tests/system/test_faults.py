"""Faults: jobs killed with SIGKILL part-way leave a consistent cache, and a rerun resumes from it.

The real CLI runs in subprocesses on the embedded default; the cache is checked after every kill
(DuckDB opens, every artifacts row names a whole file, every stored run has all its rows) and the
resumed result is compared, number for number, with an uninterrupted run in a fresh cache.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from saeviz.store.db import Store

REPO = Path(__file__).resolve().parents[2]
# One unit, three SAE sparsities and a small retraining: every kind of job (compression, evaluation,
# training), with magnitude pruning so that no calibration pass dominates the few seconds each takes.
COMMON = ["--method", "magnitude", "--eval-sequences", "8", "--train-tokens", "16384", "--train-batch", "128"]
TRAIN = ["train-sae", "--site", "resid", "--layer", "1", *COMMON]
SWEEP = ["sweep", "--sites", "resid", "--layers", "1", "--sae-sparsities", "0,0.5,0.9", "--sae-method", "magnitude", *COMMON]
TRAIN_TOKENS = 16384
# One thread per process: on a shared 2-core machine OpenMP's spinning threads made these jobs ~3x slower.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


class Job:
    """`python -m saeviz ...` in a subprocess, its stderr (tqdm progress) collected as it comes."""

    def __init__(self, args: list[str], cache: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "saeviz", *args, "--cache-dir", str(cache)], cwd=REPO, env=ENV,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.err = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):
            self.err += chunk

    def kill_when(self, ready, timeout_s: float = 300) -> None:
        """SIGKILL the job as soon as ``ready()`` holds; fail if it ends first."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            assert self.proc.poll() is None, f"the job ended before the kill point:\n{self.err.decode()[-2000:]}"
            assert time.monotonic() < deadline, "the kill point never came"
            time.sleep(0.01)
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait() == -signal.SIGKILL

    def finish(self) -> str:
        out, _ = self.proc.communicate(timeout=600)
        self._reader.join(5)
        assert self.proc.returncode == 0, self.err.decode()[-3000:]
        return out.decode()


def _read_only_db(root: Path) -> dict[str, pd.DataFrame]:
    import duckdb

    con = duckdb.connect(str(root / "saeviz.duckdb"), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM {t}").df() for t in ("metrics", "timings", "artifacts")}
    finally:
        con.close()


def check_consistent(root: Path) -> dict[str, pd.DataFrame]:
    """Assert the cache is whole after a kill; returns its tables."""
    from safetensors.torch import load_file

    tables = _read_only_db(root)  # it opens: the killed writer's WAL is replayed, its open transaction dropped
    for rel in tables["artifacts"]["path"]:
        assert (root / rel).is_file(), f"artifacts row points to a missing file {rel}"
    for path in (root / "arrays").rglob("*.safetensors"):
        load_file(str(path))  # whole: a half-written array would fail to parse
    for final in (root / "saes").glob("*/final"):
        assert {"cfg.json", "sae_weights.safetensors"} <= {p.name for p in final.iterdir()}, final
    return tables


def assert_runs_match(tables: dict[str, pd.DataFrame], reference: dict[str, pd.DataFrame]) -> None:
    """Every run present holds exactly the uninterrupted run's rows and values: stored all at once or not at all."""
    got, ref = _by_run(tables["metrics"]), _by_run(reference["metrics"])
    assert set(got) <= set(ref)
    for key, rows in got.items():
        pd.testing.assert_frame_equal(rows, ref[key], check_exact=True, obj=f"run {key}")


def _by_run(metrics: pd.DataFrame) -> dict[str, pd.DataFrame]:
    cols = ["item", "metric", "value"]
    return {key: rows.sort_values(cols[:2])[cols].reset_index(drop=True) for key, rows in metrics.groupby("run_key")}


def _jobs(tables) -> dict[str, float]:
    """{job_key: seconds} of the timings table: one row per compression, evaluation or training."""
    return dict(zip(tables["timings"]["job_key"], tables["timings"]["seconds"]))


def _computed_since(before: dict[str, float], after: dict[str, float]) -> int:
    return sum(1 for k, v in after.items() if before.get(k) != v)


def _final_weights(root: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    (final,) = (root / "saes").glob("*/final")
    return load_file(str(final / "sae_weights.safetensors"))


@pytest.mark.slow  # five CLI processes (each loads torch, sae_lens and the model) on the embedded default
def test_killed_training_and_sweep_resume_to_the_uninterrupted_numbers(tmp_path):
    fresh, faulty = tmp_path / "fresh", tmp_path / "faulty"
    reference_job = Job(SWEEP, fresh)  # the uninterrupted run, side by side with the faulty sequence

    # 1. train-sae killed right after its first checkpoint
    Job(TRAIN, faulty).kill_when(lambda: any((faulty / "saes").glob("*/checkpoints/*/stream.json")))
    after_train = check_consistent(faulty)
    assert not list((faulty / "saes").glob("*/final")), "a killed training must not look finished"

    # 2. the sweep resumes that training, then is killed while it evaluates the pruned SAEs
    job = Job(SWEEP, faulty)
    job.kill_when(lambda: b"pruned50" in job.err)
    after_sweep = check_consistent(faulty)
    retrain = after_sweep["timings"][after_sweep["timings"]["kind"] == "retrain"]
    assert len(retrain) == 1 and 0 < retrain["tokens"].iloc[0] < TRAIN_TOKENS, "the training restarted instead of resuming"

    reference_job.finish()
    reference = check_consistent(fresh)
    assert_runs_match(after_train, reference)
    assert_runs_match(after_sweep, reference)

    # 3. the rerun computes only what is missing and ends with exactly the fresh run's numbers
    start = time.perf_counter()
    Job(SWEEP, faulty).finish()
    rerun_s = time.perf_counter() - start
    final = check_consistent(faulty)
    assert_runs_match(final, reference)
    runs_before, runs = len(_by_run(after_sweep["metrics"])), len(_by_run(reference["metrics"]))
    assert set(_by_run(final["metrics"])) == set(_by_run(reference["metrics"])) and 0 < runs_before < runs
    recomputed, n_jobs = _computed_since(_jobs(after_sweep), _jobs(final)), len(reference["timings"])
    assert 0 < recomputed < n_jobs
    assert not list(faulty.rglob("*.tmp*")), "temp files of killed writers were not cleaned"
    fresh_w, resumed_w = _final_weights(fresh), _final_weights(faulty)
    assert all(torch.equal(fresh_w[k], resumed_w[k]) for k in fresh_w)
    print(f"\nfresh: {runs} metric runs, {n_jobs} timed jobs; before the rerun the faulty cache held {runs_before} runs "
          f"(training resumed at {TRAIN_TOKENS - retrain['tokens'].iloc[0]} of {TRAIN_TOKENS} tokens); the rerun "
          f"computed {recomputed} of {n_jobs} jobs in {rerun_s:.1f} s")


WRITER = textwrap.dedent("""
    import sys
    import pandas as pd
    from saeviz.store.db import Store

    store = Store(sys.argv[1])
    rows = pd.DataFrame({"item": [str(i) for i in range(2000)], "metric": "m", "value": 1.0})
    for run in range(10_000):
        store.put_metrics({"run_key": f"r{run}", "model": "m", "eval": "core"}, rows=rows)
        print(run, flush=True)
""")


def test_a_run_killed_while_its_rows_are_written_is_stored_whole_or_not_at_all(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=REPO, env=ENV, stdout=subprocess.PIPE)
    for _ in range(3):  # a few runs stored: the kill then lands inside a write, where the writer spends its time
        assert proc.stdout.readline(), "the writer died"
    time.sleep(0.15)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    counts = _read_only_db(tmp_path)["metrics"].groupby("run_key").size()
    assert len(counts) >= 3 and set(counts) == {2000}, counts.value_counts()
    assert Store(tmp_path).run_rows(counts.index[0])["value"].eq(1.0).all()


def test_a_run_is_written_in_one_statement_keeping_types_and_the_last_duplicate(tmp_path):
    store = Store(tmp_path)
    rows = pd.DataFrame({"item": ["a", "a", "b"], "metric": ["m", "m", "m"], "value": [1.0, 2.0, 3.0]})
    store.put_metrics({"run_key": "k", "model": "x", "layer": 3, "sae_sparsity": None}, {"s": 0.5}, rows=rows)
    got = store.metrics(run_key="k")
    assert sorted(got[["item", "metric", "value"]].values.tolist()) == [["", "s", 0.5], ["a", "m", 2.0], ["b", "m", 3.0]]
    assert set(got["layer"]) == {3} and got["sae_sparsity"].isna().all() and set(got["eval"]) == {"core"}


def test_temp_files_of_dead_writers_are_ignored_then_removed(tmp_path):
    import torch as t

    from saeviz.store.atomic import temp_sibling

    store = Store(tmp_path)
    path = store.array_path("acts", "k")
    path.parent.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = path.with_name(f"{path.name}.tmp{int(dead.stdout)}")  # an old-style name from a killed writer
    stale.write_bytes(b"half a safetensors file")
    mine = temp_sibling(store.array_path("acts", "other"))  # a live writer's (this process)
    mine.write_bytes(b"being written")
    assert store.get_tensors("acts", "k") is None  # ignored by readers
    store.put_tensors("acts", "new", {"x": t.ones(2)})  # the first write cleans up
    assert not stale.exists() and mine.exists()
    assert t.equal(store.get_tensors("acts", "new")["x"], t.ones(2))


KILL_IN_FINAL_SAVE = textwrap.dedent("""
    import json, os, signal, sys
    import torch
    from sae_lens.saes.sae import TrainingSAE
    from tests.conftest import build_sae
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from saeviz.specs import TrainSpec
    from saeviz.sae.train import retrain_like

    cfg = HookedTransformerConfig(n_layers=2, d_model=32, d_head=8, n_heads=4, d_mlp=64, d_vocab=100, n_ctx=16,
                                  act_fn="gelu", normalization_type="LN", seed=0, device="cpu")
    model = HookedTransformer(cfg).eval()
    tokens = torch.randint(0, 100, (64, 16), generator=torch.Generator().manual_seed(3))
    pretrained = build_sae("topk", d_in=32, d_sae=64, hook_name="blocks.1.hook_resid_post")
    spec = TrainSpec(training_tokens=2048, batch_size_tokens=128, lr=3e-3, checkpoints=2)
    save = TrainingSAE.save_inference_model

    def save_then_die(self, path):  # SIGKILL half-way through the final cfg.json (written after the weights)
        weights, cfg_path = save(self, path)
        cfg_path.write_text(cfg_path.read_text()[:20])
        os.kill(os.getpid(), signal.SIGKILL)

    TrainingSAE.save_inference_model = save_then_die
    retrain_like(pretrained, model, tokens, spec, sys.argv[1])
""")


def test_a_kill_while_the_trained_sae_is_saved_leaves_no_finished_looking_folder(tmp_path, tiny_model, make_sae):
    from saeviz.sae.train import retrain_like
    from saeviz.specs import TrainSpec

    work = tmp_path / "sae"
    killed = subprocess.run([sys.executable, "-c", KILL_IN_FINAL_SAVE, str(work)], cwd=REPO, env=ENV, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert not (work / "final" / "cfg.json").exists()  # the Workbench takes final/cfg.json as "trained"
    # the same model, SAE and spec as in the killed process (conftest's tiny model is seeded)
    tokens = torch.randint(0, 100, (64, 16), generator=torch.Generator().manual_seed(3))
    pretrained = make_sae("topk", d_in=32, d_sae=64, hook_name="blocks.1.hook_resid_post")
    spec = TrainSpec(training_tokens=2048, batch_size_tokens=128, lr=3e-3, checkpoints=2)
    result = retrain_like(pretrained, tiny_model, tokens, spec, work)
    assert result.resumed_from > 0 and result.tokens < 2048  # resumed from the last checkpoint, not from scratch
    assert (work / "final" / "sae_weights.safetensors").is_file() and not list(work.glob("*.tmp*"))
