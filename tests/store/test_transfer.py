"""Results moved between caches that share no disk: what a block wrote (its journal) arrives whole in the
other cache, bulky recomputable arrays stay behind, and a shared cache folder is read, never written."""

import pandas as pd
import torch

from saeviz.store.db import Store
from saeviz.store.transfer import LOCAL_KINDS, absorb, collect, install

RUN = {"run_key": "r1", "model": "m", "compression": "wanda-50%", "site": "resid", "layer": 1, "variant": "pruned",
       "sae_sparsity": 0.5, "eval": "core"}


def test_what_a_block_wrote_arrives_whole_in_another_cache(tmp_path):
    worker, driver = Store(tmp_path / "worker"), Store(tmp_path / "driver")
    worker.put_metrics({**RUN, "run_key": "before"}, {"mse": 9.0})  # written outside the block: not shipped
    with worker.recording() as journal:
        worker.put_metrics(RUN, rows=pd.DataFrame({"item": ["", "a"], "metric": ["mse", "f1"], "value": [0.25, 0.5]}),
                           timing={"kind": "eval:core", "label": "x", "seconds": 1.5})
        worker.put_compress_stats([{"compress_key": "c1", "model": "m", "compression": "w", "layer": 0, "matrix": "W_in",
                                    "sparsity": 0.5, "quant_error": None}])
        worker.put_frame("feature_latents", "f1", pd.DataFrame({"latent": [0, 1], "density": [0.1, 0.2]}))
        worker.put_tensors("sae_masks", "s1", {"enc": torch.tensor([True, False])})
        worker.put_tensors("acts", "a1", {"acts": torch.ones(3, 2)})  # recomputable: stays on the worker
        folder = worker.sae_dir("t1") / "final"
        (folder / "sub").mkdir(parents=True)
        (folder / "cfg.json").write_text("{}")
        (folder / "sub" / "w.bin").write_bytes(b"\x00\x01")
        worker.note_dir(folder)
    delta = collect(worker, journal)
    absorb(driver, delta)

    assert "acts" in LOCAL_KINDS and not driver.has_array("acts", "a1")
    assert not driver.has_run("before")
    rows = driver.run_rows("r1")
    assert rows[["item", "metric", "value"]].values.tolist() == [["", "mse", 0.25], ["a", "f1", 0.5]]
    assert driver.metrics(run_key="r1")["sae_sparsity"].tolist() == [0.5, 0.5]
    assert driver.timings("eval:core")["seconds"].tolist() == [1.5]
    assert driver.compress_stats("c1")["sparsity"].tolist() == [0.5]
    assert driver.get_frame("feature_latents", "f1")["density"].tolist() == [0.1, 0.2]
    assert driver.get_tensors("sae_masks", "s1")["enc"].tolist() == [True, False]
    copied = driver.sae_dir("t1") / "final"
    assert (copied / "cfg.json").read_text() == "{}" and (copied / "sub" / "w.bin").read_bytes() == b"\x00\x01"
    # absorbing twice changes nothing (a unit retried after a lost reply)
    absorb(driver, delta)
    assert len(driver.run_rows("r1")) == 2


def test_folders_a_unit_needs_are_installed_where_missing_and_a_shared_cache_is_read(tmp_path):
    worker = Store(tmp_path / "worker", shared=tmp_path / "driver")
    install(worker, {"saes/k/final": {"cfg.json": b"{}"}})
    assert (worker.root / "saes" / "k" / "final" / "cfg.json").read_bytes() == b"{}"
    install(worker, {"saes/k/final": {"cfg.json": b"changed"}})  # present: left alone
    assert (worker.root / "saes" / "k" / "final" / "cfg.json").read_bytes() == b"{}"

    driver = Store(tmp_path / "driver")
    driver.put_tensors("acts", "a1", {"acts": torch.arange(4.0)})
    driver.put_frame("feature_vocab", "v", pd.DataFrame({"text": ["a"]}))
    assert worker.has_array("acts", "a1") and worker.get_tensors("acts", "a1")["acts"].tolist() == [0, 1, 2, 3]
    assert worker.get_frame("feature_vocab", "v")["text"].tolist() == ["a"]
    assert not (worker.root / "arrays").exists()  # read from the shared folder, nothing copied or written
    assert not Store(tmp_path / "alone").has_array("acts", "a1")
