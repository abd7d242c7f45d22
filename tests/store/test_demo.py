"""Demo data, the tour, the paper's numbers, cache-key reads and background jobs (no model needed)."""

import json
import threading
import time

import pandas as pd
import pytest
import torch


# --- the paper's numbers ----------------------------------------------------------------------------
def test_paper_numbers_are_read_in_each_tables_own_column_order():
    from saeviz.report.paper_numbers import paper_rows, paper_wide

    core = paper_wide("core", "attn").set_index("metric")
    # Table 1, Attention, explained variance: Pretrained 0.802, Pruned25 0.793, Pruned50 0.727, Trained 0.859
    assert core.loc["explained_variance", ["pretrained", "pruned25", "pruned50", "retrained"]].tolist() == [0.802, 0.793, 0.727, 0.859]
    # Table 8 (residual) lists pruned50 | pretrained | pruned25 | trained: l0 86.739 | 82.355 | 89.412 | 4658.510
    assert paper_wide("core", "resid").set_index("metric").loc["l0", "retrained"] == 4658.510
    ravel = paper_wide("ravel", "mlp").set_index(["item", "metric"])
    assert ravel.loc[("person.gender", "disentanglement"), "retrained"] == 0.5431  # Table 3, (Nobel, Gender), Trained
    scr = paper_wide("scr", "mlp").set_index(["item", "metric"])
    assert scr.loc[("k=500", "scr_dir2"), "pruned25"] == 0.204  # Table 9, last row
    probe = paper_wide("probing", "resid").set_index(["item", "metric"])
    assert probe.loc[("k=1", "sae_top_k_test_accuracy"), "retrained"] == 0.748
    rows = paper_rows()
    assert set(rows["model"]) == {"gemma-2-2b"} and set(rows["layer"]) == {12}
    assert len(rows) == len(rows.drop_duplicates(["eval", "site", "item", "metric", "variant"]))


# --- shipped masks and the stale-data gate -----------------------------------------------------------
def test_masks_pack_to_bits_and_back():
    from saeviz.store.demo import pack_masks, unpack_masks

    masks = {"0.W_Q": torch.tensor([[True, False, True], [False, False, True]]), "1.W_in": torch.ones(3, 5, dtype=torch.bool)}
    packed, shapes = pack_masks(masks)
    assert packed["0.W_Q"].dtype == torch.uint8 and packed["1.W_in"].numel() == 2  # 15 bits -> 2 bytes
    back = unpack_masks(packed, shapes)
    assert all(torch.equal(back[k], masks[k]) for k in masks)


def _demo_dir(tmp_path, fingerprint, rows):
    from saeviz.store.keys import RESULTS_VERSION

    root = tmp_path / "demo"
    root.mkdir(parents=True)
    settings = {"compression": "wanda-50%", "overlays": ["rtn-int4-g128-sym"], "sites": ["resid"], "sae_sparsities": [0.0, 0.5, 0.9],
                "retrain_tokens": 0}
    (root / "manifest.json").write_text(json.dumps({"fingerprint": fingerprint, "results_version": RESULTS_VERSION,
                                                    "settings": settings, "created": "today", "seconds": {"sweep_s": 1.0}}))
    pd.DataFrame(rows).to_parquet(root / "metrics.parquet")
    return root


def _row(run_key, compression, site, layer, variant, sparsity, metric, value):
    return {"run_key": run_key, "model": "embedded", "compression": compression, "site": site, "layer": layer, "variant": variant,
            "sae_sparsity": sparsity, "eval": "model" if variant == "model" else "core", "item": "", "metric": metric, "value": value}


def test_shipped_rows_are_served_only_for_the_current_assets(tmp_path):
    from saeviz.embedded import fingerprint
    from saeviz.store import demo

    rows = [_row("k1", "dense", None, None, "model", None, "ce_loss", 3.0), _row("k2", "wanda-50%", None, None, "model", None, "ce_loss", 3.3)]
    current = _demo_dir(tmp_path, fingerprint(), rows)
    assert list(demo.shipped_rows(["k2", "zz"], current)["value"]) == [3.3]
    stale = _demo_dir(tmp_path / "old", "0" * 16, rows)
    assert demo.shipped_rows(["k1", "k2"], stale).empty and not demo.is_current(stale)
    assert demo.settings(current).sae_sparsities == (0.0, 0.5, 0.9)


def test_tour_sentences_come_from_the_shipped_numbers(tmp_path):
    from saeviz.embedded import fingerprint
    from saeviz.report.tour import tour_steps

    rows = [_row("k1", "dense", None, None, "model", None, "ce_loss", 3.0), _row("k2", "wanda-50%", None, None, "model", None, "ce_loss", 3.3)]
    for layer in (0, 1):
        rows += [_row(f"d{layer}", "dense", "resid", layer, "dense", None, "explained_variance", 0.9),
                 _row(f"p{layer}", "wanda-50%", "resid", layer, "pretrained", None, "explained_variance", 0.8 + layer / 10),
                 _row(f"a{layer}", "wanda-50%", "resid", layer, "pruned", 0.5, "explained_variance", 0.7),
                 _row(f"b{layer}", "wanda-50%", "resid", layer, "pruned", 0.9, "explained_variance", 0.2)]
    steps = tour_steps(_demo_dir(tmp_path, fingerprint(), rows))
    titles = [s.title for s in steps]
    assert titles[:3] == ["1. Compression costs the model a little", "2. The pretrained SAE still reads the compressed model",
                          "3. Pruning the SAE itself costs little, up to a point"]
    assert "3.000 nats" in steps[0].finding and "wanda-50% 3.300 (+10.0%)" in steps[0].finding
    assert "0.900 on the dense model, 0.850 applied as is" in steps[1].finding  # mean of 0.8 and 0.9
    assert "at resid, mean over layers, at each SAE sparsity: 0%: 0.850, 50%: 0.700, 90%: 0.200" in steps[2].finding and "from 50%" in steps[2].finding  # 0.85 - 0.70 > 0.1
    assert all(s.figure is not None and len(s.data) for s in steps)


def test_the_tour_sets_second_order_methods_against_first_order_ones(tmp_path):
    from saeviz.embedded import fingerprint
    from saeviz.report.tour import tour_steps

    rows = [_row("k1", "dense", None, None, "model", None, "ce_loss", 3.0), _row("k2", "wanda-50%", None, None, "model", None, "ce_loss", 3.3)]
    for comp, ev in (("wanda-50%", 0.80), ("sparsegpt-50%", 0.85), ("rtn-int4-g128-sym", 0.88), ("gptq-int4-g128-sym", 0.89)):
        rows += [_row(f"{comp}{layer}", comp, "resid", layer, "pretrained", None, "explained_variance", ev) for layer in (0, 1)]
    step = next(s for s in tour_steps(_demo_dir(tmp_path, fingerprint(), rows)) if s.title == "6. Other compressions")
    assert "sparsegpt-50% 0.850 against wanda-50% 0.800" in step.finding
    assert "gptq-int4-g128-sym 0.890 against rtn-int4-g128-sym 0.880" in step.finding


# --- cache keys the pages read ------------------------------------------------------------------------
def test_model_ce_key_is_the_key_the_workbench_stores_under(tmp_path, tiny_model, tiny_tokens):
    from saeviz.pipeline.runner import model_ce
    from saeviz.pipeline.workbench import Workbench
    from saeviz.specs import DENSE, EvalSpec, ModelSpec
    from saeviz.store.db import Store
    from ui.reads import model_ce_key, read_runs_uncached

    bench = Workbench(ModelSpec(name="tiny"), Store(tmp_path), tokens_source="tiny", sae_template="tiny/{site}/{layer}",
                      model=tiny_model, tokens={"eval": tiny_tokens})
    spec = EvalSpec(n_sequences=2, batch_size=2)
    ce = model_ce(bench, DENSE, spec)
    key = model_ce_key(bench, DENSE, spec)
    assert bench.run_keys[-1] == key
    rows = read_runs_uncached(str(tmp_path), [key])
    assert rows["value"].tolist() == [pytest.approx(ce)]


def test_value_at_reads_pruned_zero_as_the_pretrained_sae():
    from ui.reads import value_at

    rows = pd.DataFrame([{"variant": "pretrained", "sae_sparsity": None, "item": "", "metric": "mse", "value": 0.5},
                         {"variant": "pruned", "sae_sparsity": 0.5, "item": "", "metric": "mse", "value": 0.7}])
    assert value_at(rows, "mse", "pruned", 0.0) == 0.5 and value_at(rows, "mse", "pruned", 0.5) == 0.7
    assert value_at(rows, "mse", "pruned", 0.25) is None and value_at(rows, "l0", "pretrained") is None


def test_best_per_row_follows_each_metrics_direction():
    from ui.eval_view import best_per_row

    table = pd.DataFrame({"metric": ["mse", "explained_variance", "l0"], "pretrained": [0.5, 0.8, 48.0],
                          "retrained": [0.4, 0.7, 40.0]})
    assert best_per_row(table, ["pretrained", "retrained"], {"mse": False, "explained_variance": True}) == {0: "retrained", 1: "pretrained"}


# --- background jobs -------------------------------------------------------------------------------------
def test_eta_text():
    from ui.jobs import eta_text

    assert eta_text(0, 10, 5.0) == "" and eta_text(10, 10, 5.0) == ""
    assert eta_text(2, 10, 4.0) == "about 16 s left"  # 2 s a step, 8 steps left
    assert eta_text(1, 100, 10.0) == "about 16.5 min left"


def test_a_job_reports_progress_and_stops_when_cancelled():
    from saeviz.jobs import report
    from ui import jobs

    gate, steps = threading.Event(), []

    def work(progress):
        for i in range(1000):
            report(progress, i, 1000, f"step {i}")
            steps.append(i)
            if i == 3:
                gate.set()
            time.sleep(0.01)

    job = jobs.start("test-cancel", "counting", work)
    assert gate.wait(5) and jobs.start("test-cancel", "again", work) is job  # one running job per key
    job.cancel_event.set()
    deadline = time.monotonic() + 5
    while job.status == "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.status == "cancelled" and len(steps) < 1000 and job.done >= 3
    failing = jobs.start("test-fail", "failing", lambda p: (_ for _ in ()).throw(ValueError("bad spec: fix it")))
    while failing.status == "running":
        time.sleep(0.01)
    assert failing.status == "failed" and failing.error == "bad spec: fix it"
