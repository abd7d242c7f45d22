"""Two threads on one Workbench (what two dashboard sessions, or a job and a slider, do): hooked runs of
the shared model must not strip each other's hooks nor read each other's splices."""

import threading

import pytest

from saeviz.pipeline.runner import evaluate
from saeviz.pipeline.workbench import Workbench
from saeviz.sae.variants import VariantSpec
from saeviz.specs import DENSE, EvalSpec, ModelSpec
from saeviz.store.db import Store

SPEC = EvalSpec(n_sequences=8, batch_size=4)
WORK = {0: [0.1, 0.2, 0.3, 0.4], 2: [0.15, 0.25, 0.35, 0.45]}  # layer -> SAE sparsities, one thread per layer


def _values(frames) -> dict:
    return {(int(r.layer), round(float(r.sae_sparsity), 2), r.metric): float(r.value)
            for f in frames for r in f.itertuples() if r.item == ""}


def test_two_threads_on_one_workbench_get_what_one_thread_gets(tmp_path):
    shared = Workbench(ModelSpec(), Store(tmp_path / "shared"))
    shared.base_model  # loaded before the threads start, as the dashboard's cached Workbench is
    frames, errors = [], []

    def work(layer):
        try:
            for s in WORK[layer]:
                frames.append(evaluate(shared, DENSE, VariantSpec("pruned", s), "resid", layer, "core", SPEC))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(layer,)) for layer in WORK]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, errors

    alone = Workbench(ModelSpec(), Store(tmp_path / "alone"))
    expected = [evaluate(alone, DENSE, VariantSpec("pruned", s), "resid", layer, "core", SPEC)
                for layer, grid in WORK.items() for s in grid]
    got, want = _values(frames), _values(expected)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
