"""The cache: keyed rows and arrays, and two processes (a CLI writer, a dashboard reader) at once."""

import subprocess
import sys
import textwrap

import torch

from saeviz.store import Store

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
        from saeviz.store import Store
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
