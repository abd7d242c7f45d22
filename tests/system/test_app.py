"""The dashboard's pages through Streamlit's AppTest: widgets in, rendered values out, no exceptions.

Results are seeded into a temporary cache under the keys the pages derive from their widgets, with
hand-chosen values, so each page renders from the cache without running the model (one test runs a
compression job for real; tests/system/test_browser.py computes slider points between the swept ones). The
shipped demo data is switched off (SAEVIZ_DEMO_DIR -> an empty folder) except for the home page's
saved summary and the tour.
"""

import io
import json
import math
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

TIMEOUT = 300
APP = Path(__file__).resolve().parents[2] / "app.py"
WANDA = "wanda-50%"


def _put(store, key, compression, site, layer, variant, sparsity, values, eval_name="core"):
    store.put_metrics({"run_key": key, "model": "embedded", "compression": compression, "site": site, "layer": layer,
                       "variant": variant, "sae_sparsity": sparsity, "eval": eval_name}, values)


def _seed_sweep(bench, store, compression: str, eval_spec, layers, best_at=0.5):
    """Core rows of a sweep over SAE sparsities 0, 50, 90% (no retraining) at resid for these layers."""
    from saeviz.pipeline.sweep import SweepSpec, unit_variants
    from saeviz.specs import CompressSpec
    from ui.reads import run_key

    comp = CompressSpec.parse(compression)
    spec = SweepSpec(compression=comp, sites=("resid",), layers=tuple(layers), sae_sparsities=(0.0, 0.5, 0.9), eval=eval_spec)
    ev = {"dense": 0.95, "pretrained": 0.9, 0.5: 0.8, 0.9: 0.3}
    dead = {"dense": 0.01, "pretrained": 0.01, 0.5: 0.05, 0.9: 0.5}
    for layer in layers:
        for v in unit_variants(spec):
            if v.kind == "pruned" and v.sae_sparsity == 0:
                continue  # one run with pretrained
            what = v.sae_sparsity if v.kind == "pruned" else (best_at if v.kind == "pruned_best" else v.kind)
            _put(store, run_key(bench, comp, "resid", layer, v, "core", eval_spec), "dense" if v.kind == "dense" else comp.label(),
                 "resid", layer, v.kind, what if isinstance(what, float) else None,
                 {"explained_variance": ev[what] + layer / 100, "dead_fraction": dead[what], "mse": 1 - ev[what]})
    return spec


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A cache holding: model CE of dense (3.0) and wanda-50% (3.3), wanda-50%'s achieved sparsity, a wanda-50%
    sweep at resid layers 0-1, core rows of four variants and RAVEL rows of two at resid layer 3."""
    import os

    from saeviz.pipeline.workbench import Workbench
    from saeviz.sae.variants import VariantSpec
    from saeviz.specs import DENSE, CompressSpec, EvalSpec, ModelSpec
    from saeviz.store.db import Store
    from ui.reads import model_ce_key, run_key

    root, empty = tmp_path_factory.mktemp("cache"), tmp_path_factory.mktemp("no-demo")
    old = {k: os.environ.get(k) for k in ("SAEVIZ_CACHE_DIR", "SAEVIZ_DEMO_DIR")}
    os.environ.update({"SAEVIZ_CACHE_DIR": str(root), "SAEVIZ_DEMO_DIR": str(empty)})
    store = Store(root)
    bench = Workbench(ModelSpec(), store)  # keys only: the model is never loaded here
    wanda, spec64 = CompressSpec.parse(WANDA), EvalSpec()
    _put(store, model_ce_key(bench, DENSE, spec64), "dense", None, None, "model", None, {"ce_loss": 3.0}, "model")
    _put(store, model_ce_key(bench, wanda, spec64), WANDA, None, None, "model", None, {"ce_loss": 3.3}, "model")
    store.put_compress_stats([{"compress_key": bench.compress_key(wanda), "model": "embedded", "compression": WANDA, "layer": layer,
                               "matrix": m, "sparsity": 0.5, "quant_error": None} for layer in range(4) for m in ("W_Q", "W_in")])
    _seed_sweep(bench, store, WANDA, spec64, [0, 1])
    for label, ev, mse in (("dense", 0.95, 0.1), ("pretrained", 0.9, 0.2), ("pruned25", 0.88, 0.25), ("pruned50", 0.8, 0.4)):
        v = VariantSpec.parse(label)
        _put(store, run_key(bench, wanda, "resid", 3, v, "core", spec64), "dense" if label == "dense" else WANDA, "resid", 3,
             v.kind, v.sae_sparsity if v.kind == "pruned" else None, {"explained_variance": ev, "mse": mse})
    for label, pairs in (("pretrained", (0.6, 0.8)), ("retrained", (0.7, 0.5))):  # RAVEL: two entity-attribute pairs
        v = VariantSpec.parse(label)
        rows = pd.DataFrame({"item": ["city.country", "person.field"], "metric": ["disentanglement"] * 2, "value": list(pairs)})
        store.put_metrics({"run_key": run_key(bench, wanda, "resid", 3, v, "ravel"), "model": "embedded", "compression": WANDA,
                           "site": "resid", "layer": 3, "variant": v.kind, "sae_sparsity": None, "eval": "ravel"}, rows=rows)
    yield store
    for k, v in old.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture
def app(seeded):
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def _metrics(app) -> dict:
    return {m.label: (m.value, m.proto.body) for m in app.metric}


def _decode(node):
    """Plotly's JSON writes numeric arrays as base64 typed arrays ({'dtype', 'bdata'}): back to lists."""
    import base64

    import numpy as np

    if isinstance(node, dict) and "bdata" in node and "dtype" in node:
        return np.frombuffer(base64.b64decode(node["bdata"]), dtype=node["dtype"]).tolist()
    if isinstance(node, dict):
        return {k: _decode(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_decode(v) for v in node]
    return node


def _chart(app, index: int = 0) -> dict:
    return _decode(json.loads(app.get("plotly_chart")[index].proto.spec))


def test_home_shows_the_embedded_model_and_its_saes(monkeypatch, seeded):
    monkeypatch.delenv("SAEVIZ_DEMO_DIR")  # the summary saved with the shipped demo data: no model load to draw it
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    app.run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Model"] == "saeviz-embedded-4l" and metrics["Layers"] == "4" and metrics["Device"] in ("CPU", "GPU")
    saes = app.dataframe[0].value
    assert set(saes["site"]) == {"attn", "mlp", "resid"} and (saes["fits"] == "yes").all() and len(saes) == 12


def test_home_reports_a_bad_model_in_one_line(app):
    app.run()
    app.radio(key="model_source").set_value("Local directory").run()
    app.text_input(key="model_name").set_value("./no-such-checkpoint").run()
    assert not app.exception
    assert "does not exist" in app.error[0].value


def test_compression_page_shows_cached_ce_and_rebuilds_the_spec_from_its_sliders(app):
    app.switch_page("views/compress.py").run()
    assert not app.exception
    cards = {m.label: m for m in app.metric}
    assert cards["CE, dense (nats)"].value == "3.0000"
    assert cards[f"CE, {WANDA}"].value == "3.3000" and cards[f"CE, {WANDA}"].proto.delta == "+0.3000"
    assert cards["Perplexity, dense"].value == f"{math.exp(3.0):.2f}" == "20.09"
    assert cards["Perplexity, compressed"].value == "27.11"
    heat = next(c for c in (_chart(app, i) for i in range(len(app.get("plotly_chart")))) if c["data"][0]["type"] == "heatmap")
    assert heat["data"][0]["x"] == ["W_Q", "W_in"] and heat["data"][0]["text"][0] == ["50.0%", "50.0%"]
    app.slider(key="cp_master").set_value(0.3).run()
    assert [app.slider(key=f"cp_layer_{i}").value for i in range(4)] == [0.3] * 4  # the master sets every layer
    app.slider(key="cp_layer_2").set_value(0.7).run()
    assert any("`wanda-30%+layers`" in c.value for c in app.caption)
    assert any("wanda-30%+layers is not computed yet" in i.value for i in app.info)


@pytest.mark.slow
def test_compressing_runs_as_a_background_job_and_shows_its_results(app):
    import time

    app.switch_page("views/compress.py").run()
    app.selectbox(key="cp_method").set_value("magnitude").run()
    app.slider(key="cp_master").set_value(0.3).run()
    app.number_input(key="eval_n").set_value(4).run()
    app.button(key="cp_run").click().run()
    assert not app.exception, app.exception
    assert any("compress magnitude-30%" in p.proto.text for p in app.get("progress"))  # the job's bar, with its label
    deadline = time.monotonic() + 240
    while "CE, magnitude-30%" not in {m.label for m in app.metric} and time.monotonic() < deadline:
        time.sleep(1)
        app.run()
    cards = {m.label: m.value for m in app.metric}
    assert float(cards["CE, magnitude-30%"]) > float(cards["CE, dense (nats)"]) > 0
    heat = next(c for c in (_chart(app, i) for i in range(len(app.get("plotly_chart")))) if c["data"][0]["type"] == "heatmap")
    assert heat["data"][0]["text"][0][0] == "29.7%"  # W_Q, per row of 128 inputs: floor(0.3 * 128) = 38 -> 38/128


def test_a_downloaded_checkpoint_is_a_compression_like_any_other(app):
    import time

    app.switch_page("views/compress.py").run()
    app.selectbox(key="cp_method").set_value("gptq").run()
    app.toggle(key="cp_act").set_value(True).run()
    assert any("`gptq-int4-g128-sym-act`" in c.value for c in app.caption)
    app.selectbox(key="cp_method").set_value("checkpoint").run()
    app.text_input(key="cp_checkpoint").set_value("/no/such/dir").run()
    assert not app.exception and "has no config.json" in app.error[0].value
    folder = Path(__file__).resolve().parent.parent / "fixtures" / "compressed" / "gptqmodel-gptq-int4-g32-asym"
    app.text_input(key="cp_checkpoint").set_value(str(folder)).run()
    app.number_input(key="eval_n").set_value(4).run()
    app.button(key="cp_run").click().run()
    label = "checkpoint: gptqmodel-gptq-int4-g32-asym"
    deadline = time.monotonic() + 120
    while f"CE, {label}" not in {m.label for m in app.metric} and time.monotonic() < deadline:
        time.sleep(1)
        app.run()
    assert not app.exception, app.exception
    cards = {m.label: m.value for m in app.metric}
    assert float(cards[f"CE, {label}"]) > float(cards["CE, dense (nats)"])
    heats = [c for c in (_chart(app, i) for i in range(len(app.get("plotly_chart")))) if c["data"][0]["type"] == "heatmap"]
    assert len(heats) == 2  # its sparsity and its change against the base, per matrix
    assert any("against this model" in h.value for h in app.subheader)


def _sweep_page(app, compression=WANDA, layers=(0, 1)):
    app.switch_page("views/sweep.py").run()
    app.selectbox(key="sw_comp").set_value(compression)
    app.multiselect(key="sw_layers").set_value(list(layers))
    app.multiselect(key="sw_grid").set_value([0.0, 0.5, 0.9])
    app.number_input(key="sw_retrain").set_value(0)
    return app.run()


def test_sweep_slider_moves_the_marker_and_the_cards(app):
    _sweep_page(app)
    assert not app.exception, app.exception
    cards = _metrics(app)
    assert cards["Layer 0 · pruned 50%"][0] == "0.8" and app.metric[0].proto.delta == "-0.1"
    assert cards["Layer 1 · pruned 50%"][0] == "0.81"
    assert "dead latents: 51 of 1024, 41 more than the pretrained SAE" in [c.value for c in app.caption]  # 0.05, 0.01 of 1024
    ring = next(t for t in _chart(app)["data"] if t["name"] == "layer 0 slider")
    assert ring["x"] == [50.0] and ring["y"] == [0.8]
    app.slider(key="sw_slider_resid_0").set_value(90).run()
    assert not app.exception
    cards = _metrics(app)
    assert cards["Layer 0 · pruned 90%"][0] == "0.3" and cards["Layer 1 · pruned 50%"][0] == "0.81"
    ring = next(t for t in _chart(app)["data"] if t["name"] == "layer 0 slider")
    assert ring["x"] == [90.0] and ring["y"] == [0.3]
    line = next(t for t in _chart(app)["data"] if t["name"] == "layer 0")
    assert line["x"] == [0.0, 50.0, 90.0] and line["y"] == [0.9, 0.8, 0.3]  # 0%: the pretrained SAE


def test_layerwise_page_plots_what_is_cached_and_counts_the_rest(app):
    app.switch_page("views/layers.py").run()
    app.multiselect(key="ly_comps").set_value([WANDA])
    app.multiselect(key="ly_sites").set_value(["resid"])
    app.multiselect(key="ly_variants").set_value(["dense", "pretrained"]).run()
    assert not app.exception, app.exception
    assert any(c.value.startswith("2 of 8 ") for c in app.caption)  # layer 2: seeded at 0, 1 (sweep) and 3 (evals)
    traces = {t["name"]: t for t in _chart(app)["data"]}
    assert traces["pretrained"]["x"] == [0, 1, 3] and traces["pretrained"]["y"] == [0.9, 0.91, 0.9]
    assert traces["dense"]["y"] == [0.95, 0.96, 0.95]


def test_evaluations_table_highlights_the_best_and_shows_the_papers_numbers(app):
    app.switch_page("views/evals.py").run()
    app.selectbox(key="ev_comp").set_value(WANDA)
    app.selectbox(key="ev_site").set_value("resid")
    app.selectbox(key="ev_layer").set_value(3)
    app.selectbox(key="ev_name").set_value("core")
    app.multiselect(key="ev_variants").set_value(["dense", "pretrained", "pruned25", "pruned50"]).run()
    assert not app.exception, app.exception
    table = app.dataframe[0].value.set_index("metric")
    assert table.loc["explained_variance", ["dense", "pretrained", "pruned25", "pruned50"]].tolist() == [0.95, 0.9, 0.88, 0.8]
    bars = _chart(app)["data"]
    assert [b["name"] for b in bars] == ["dense", "pretrained", "pruned25", "pruned50"]
    assert bars[0]["marker"]["line"]["width"] == [0]  # dense (0.95) is the reference, not a candidate
    assert bars[1]["marker"]["line"]["width"] == [2.5]  # pretrained: the best on the compressed model
    app.toggle(key="ev_paper").set_value(True).run()
    table = app.dataframe[0].value.set_index("metric")
    assert table.loc["explained_variance", "paper: pretrained"] == 0.867  # Table 8, residual, Pretrained
    assert any("Gemma-2-2B, layer 12" in c.value for c in app.caption)


def test_ravel_is_shown_per_entity_attribute_pair(app):
    app.switch_page("views/evals.py").run()
    app.selectbox(key="ev_comp").set_value(WANDA)
    app.selectbox(key="ev_layer").set_value(3)
    app.selectbox(key="ev_name").set_value("ravel")
    app.multiselect(key="ev_variants").set_value(["pretrained", "retrained"])
    app.toggle(key="ev_paper").set_value(True).run()
    assert not app.exception, app.exception
    table = app.dataframe[0].value.set_index("item")
    assert table.loc["city.country", ["pretrained", "retrained"]].tolist() == [0.6, 0.7]
    assert table.loc["city.country", "paper: pretrained"] == 0.5825  # Table 2 (residual), (City, Country)
    bars = _chart(app)["data"]
    assert bars[0]["x"] == ["city.country", "person.field"] and bars[1]["y"] == [0.7, 0.5]
    assert bars[0]["marker"]["line"]["width"] == [0, 2.5]  # pretrained is better on person.field only


def test_a_ticked_figure_lands_in_the_comparison_pack(app):
    app.switch_page("views/compress.py").run()
    app.checkbox(key="pack_cp_ce").check().run()
    app.switch_page("views/pack.py").run()
    assert not app.exception
    assert any(f"CE of dense vs {WANDA}" in m.value for m in app.markdown)
    app.button(key="pack_build").click().run()
    assert not app.exception, app.exception
    zf = zipfile.ZipFile(io.BytesIO(app.session_state["pack_zip"]))
    names = zf.namelist()
    assert "README.md" in names and any(n.endswith(".png") for n in names) and any(n.endswith(".parquet") for n in names)
    assert "python -m saeviz compress --method wanda --sparsity 0.5" in zf.read("README.md").decode()


def test_tour_walks_through_the_shipped_findings(monkeypatch, seeded):
    monkeypatch.delenv("SAEVIZ_DEMO_DIR")
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    app.switch_page("views/tour.py").run()
    assert not app.exception, app.exception
    assert app.header[0].value.startswith("1. ") and app.success[0].value.startswith("**On our model:**")
    app.button(key="tour_next").click().run()
    assert app.header[0].value.startswith("2. ") and app.query_params["step"] == "2"


def test_demo_flag_opens_the_tour_first(monkeypatch, seeded, tmp_path):
    monkeypatch.delenv("SAEVIZ_DEMO_DIR")
    monkeypatch.setenv("SAEVIZ_CACHE_DIR", str(tmp_path))  # demo mode copies the shipped rows into its cache: not the seeded one
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    app.query_params["demo"] = "1"
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Guided tour" and app.header[0].value.startswith("1. ")
