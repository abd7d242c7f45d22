"""The cache: keyed rows and arrays, and two processes (a CLI writer, a dashboard reader) at once."""

import subprocess
import sys
import textwrap

import pytest
import torch

from saeviz.store.db import Store

RUN = {"model": "m", "compression": "wanda-50%", "site": "mlp", "layer": 1, "variant": "pruned", "sae_sparsity": 0.5}


def test_metrics_round_trip_and_replace(tmp_path):
    store = Store(tmp_path)
    assert store.metrics().empty and not store.has_run("k1")  # no database file yet: empty, no error
    store.put_metrics({**RUN, "run_key": "k1"}, {"mse": 0.5, "l0": 12})
    store.put_metrics({**RUN, "run_key": "k1"}, {"mse": 0.25})  # same key: replaced, not duplicated
    assert store.run_metrics("k1") == {"mse": 0.25, "l0": 12.0}
    rows = store.metrics(site="mlp")
    assert len(rows) == 2 and set(rows["variant"]) == {"pruned"}
    assert store.metrics(site="attn").empty


def test_tensors_are_written_whole_and_read_back(tmp_path):
    store = Store(tmp_path)
    masks = {"0.W_in": torch.rand(4, 8) > 0.5}
    store.put_tensors("model_masks", "abc", masks)
    assert torch.equal(store.get_tensors("model_masks", "abc")["0.W_in"], masks["0.W_in"])
    assert store.get_tensors("model_masks", "missing") is None
    assert not list(store.array_path("model_masks", "abc").parent.glob("*.tmp*"))


def test_a_writer_process_and_a_reader_share_the_cache(tmp_path):
    writer = textwrap.dedent(f"""
        from saeviz.store.db import Store
        store = Store({str(tmp_path)!r})
        for i in range(40):
            store.put_metrics({{**{RUN!r}, "run_key": f"w{{i}}"}}, {{"mse": float(i)}})
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer])
    store, seen = Store(tmp_path), []
    while proc.poll() is None:
        seen.append(len(store.metrics()))  # reads while the other process writes
    assert proc.wait() == 0
    assert len(store.metrics()) == 40
    assert seen == sorted(seen)  # reads only ever see whole, growing results


def test_batch_defers_this_threads_writes_to_one_transaction(tmp_path):
    import threading

    from saeviz.store.db import Store

    store = Store(tmp_path)
    other = Store(tmp_path)  # another reader of the same file
    with pytest.raises(RuntimeError):
        with store.batch():
            store.put_metrics({"run_key": "a"}, {"mse": 1.0})
            store.put_timing("a", "eval:core", "a", 0.5)
            assert other.run_metrics("a") == {}  # not written yet
            thread = threading.Thread(target=lambda: store.put_metrics({"run_key": "b"}, {"mse": 2.0}))
            thread.start(), thread.join()
            assert other.run_metrics("b") == {"mse": 2.0}  # another thread's write is not part of this batch
            store.flush()
            assert other.run_metrics("a") == {"mse": 1.0}
            store.put_metrics({"run_key": "c"}, {"mse": 3.0})
            raise RuntimeError("cancelled")
    assert other.run_metrics("c") == {"mse": 3.0}  # what was finished is kept when the block is left by an error
    assert len(other.timings()) == 1
    assert other.runs_rows(["a", "c", "missing"]).keys() == {"a", "c"}


def test_a_batchs_consecutive_runs_are_one_insert_and_later_values_win(tmp_path, monkeypatch):
    from saeviz.store import db

    store = db.Store(tmp_path)
    inserts = []
    original = db._insert_rows
    monkeypatch.setattr(db, "_insert_rows", lambda con, table, *a, **k: (inserts.append(table), original(con, table, *a, **k)))
    with store.batch():
        store.put_metrics({"run_key": "a"}, {"mse": 1.0}, timing={"kind": "eval:core", "label": "a", "seconds": 0.1})
        store.put_metrics({"run_key": "b"}, {"mse": 2.0})
        store.put_compress_stats([])  # another kind of write between runs keeps its place
        store.put_metrics({"run_key": "a"}, {"mse": 5.0, "l0": 3.0})
    assert inserts.count("metrics") == 2  # a+b together, then the rewrite of a after the other write
    assert store.run_metrics("a") == {"mse": 5.0, "l0": 3.0} and store.run_metrics("b") == {"mse": 2.0}
    assert len(store.timings()) == 1
