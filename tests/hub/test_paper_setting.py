"""The paper's setting on a hub model, offline: GPT-2 Small with gpt2-small-res-jb from a local Hugging
Face cache, a token set built from the cached OpenWebText, then compress -> sweep -> report -> features
through the CLI and every page of the app on the results."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from saeviz.cli.main import main

APP = Path(__file__).resolve().parents[2] / "app.py"
TEMPLATE = "gpt2-small-res-jb/blocks.{layer}.hook_resid_pre"


@pytest.fixture
def study(hf_cache, tmp_path, capsys, monkeypatch):
    tokens, cache = tmp_path / "tokens", tmp_path / "cache"
    assert main(["tokens", "--model", "gpt2-small", "--sae", TEMPLATE.format(layer=0), "--out", str(tokens),
                 "--eval", "64", "--train-tokens", "4096"]) == 0
    common = ["--model", "gpt2-small", "--tokens", str(tokens), "--sae-template", TEMPLATE,
              "--cache-dir", str(cache)]
    assert main(["sweep", *common, "--sae-sparsities", "0,0.5,0.9"]) == 0
    out = capsys.readouterr().out
    monkeypatch.setenv("SAEVIZ_CACHE_DIR", str(cache))
    monkeypatch.setenv("SAEVIZ_DEMO_DIR", str(tmp_path / "no-demo"))
    return {"tokens": tokens, "cache": cache, "common": common, "sweep_out": out}


def test_the_study_runs_through_the_cli_at_each_saes_own_hook(study, tmp_path, capsys):
    from saeviz.pipeline.runner import eval_inputs
    from saeviz.pipeline.workbench import Workbench
    from saeviz.sae.variants import VariantSpec
    from saeviz.specs import DENSE, ModelSpec
    from saeviz.store.db import Store

    assert "resid = blocks.{layer}.hook_resid_pre" in study["sweep_out"]  # res-jb is labelled by its own hook
    assert "pruned_best" in study["sweep_out"] and " attn " not in study["sweep_out"]  # the release covers resid only
    bench = Workbench(ModelSpec(name="gpt2-small", device="cpu"), Store(study["cache"]), tokens_source=str(study["tokens"]),
                      sae_template=TEMPLATE)
    assert bench.sites() == ("resid",)
    assert eval_inputs(bench, DENSE, VariantSpec("pretrained"), "resid", 1).hook == "blocks.1.hook_resid_pre"
    report = tmp_path / "report"
    assert main(["report", *study["common"], "--train-tokens", "4096", "--evals", "", "--out", str(report)]) == 0
    md = (report / "report.md").read_text()
    assert "**residual pre**" in md and "residual post" not in md and "gpt2-small" in md
    assert main(["features", *study["common"], "--sae", TEMPLATE.format(layer=1), "--variant", "pretrained",
                 "--latent", "3"]) == 0
    assert "latent 3" in capsys.readouterr().out.lower()


def test_the_embedded_token_set_is_refused_for_gpt2(hf_cache, tmp_path, capsys):
    code = main(["sweep", "--model", "gpt2-small", "--device", "cpu", "--tokens", "embedded", "--sae-template", TEMPLATE,
                 "--cache-dir", str(tmp_path / "cache"), "--sae-sparsities", "0.5", "--layers", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "Token set 'embedded' was made by tokenizer" in err and "but model 'gpt2-small' uses" in err


def test_every_page_shows_the_hub_models_study(study):
    app = AppTest.from_file(str(APP), default_timeout=300)
    app.run()
    app.radio(key="model_source").set_value("Hub name").run()
    app.selectbox(key="hub_preset").set_value("GPT-2 Small, res-jb").run()  # the paper's pairing
    assert (app.session_state["model_name"], app.session_state["sae_template"]) == ("gpt2-small", TEMPLATE)
    app.text_input(key="tokens_source").set_value(str(study["tokens"])).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Model"] == "gpt2" and metrics["Layers"] == "2"
    saes = app.dataframe[0].value
    assert list(saes["hook"]) == ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre"] and set(saes["site"]) == {"resid"}
    for page in ("compress", "sweep", "layers", "evals", "features", "tour", "pack"):
        app.switch_page(f"views/{page}.py").run()
        assert not app.exception, (page, [e.value for e in app.exception])
        assert not app.error, (page, [e.value for e in app.error])
        if page == "compress":  # the token set in use, with the tokenizer that made it
            assert any("tokenizer gpt2 (vocabulary 512" in c.value for c in app.caption)
            assert {m.label: m.value for m in app.metric}["CE, dense (nats)"]  # the CLI's results, same keys
        if page == "sweep":  # the release covers the residual stream, read where res-jb reads it
            assert app.selectbox(key="sw_site").options == ["resid (resid_pre)"]
            assert not any(c.value.startswith("0 of") for c in app.caption)  # the CLI's sweep is read
