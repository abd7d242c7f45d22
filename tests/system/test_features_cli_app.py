"""The feature browser end to end on the embedded default: `python -m saeviz features` and the page."""

import json
from pathlib import Path

import pytest

from saeviz.cli.features import parse_sae_ref
from saeviz.cli.main import main
from saeviz.specs import DENSE, CompressSpec

APP = Path(__file__).resolve().parents[2] / "app.py"
SEQUENCES = "16"  # a small slice of the evaluation split keeps the passes to seconds


@pytest.mark.parametrize("spec", [DENSE, CompressSpec(), CompressSpec(method="magnitude", sparsity=0.3), CompressSpec(n_m=(2, 4)),
                                  CompressSpec(method="rtn", bits=4, group_size=64, symmetric=False)])
def test_compression_labels_parse_back(spec):
    """The page keeps the compression in the URL as its label."""
    assert CompressSpec.parse(spec.label()) == spec


def test_sae_references():
    assert parse_sae_ref("embedded/mlp/layer_2")[:2] == ("mlp", 2)
    assert parse_sae_ref("resid/3", "rel/blocks.{layer}.hook_resid_post") == ("resid", 3, "rel/blocks.{layer}.hook_resid_post")
    assert parse_sae_ref("gpt2-small-res-jb/blocks.8.hook_resid_post") == ("resid", 8, "gpt2-small-res-jb/blocks.8.hook_resid_post")
    with pytest.raises(ValueError, match="SITE/LAYER"):
        parse_sae_ref("some-release/some-id")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("feature-cache")


def _run(capsys, cache, *args):
    code = main(["features", "--sae", "embedded/resid/layer_0", "--sequences", SEQUENCES, "--cache-dir", str(cache), *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_cli_prints_one_latents_record(capsys, cache):
    densest = json.loads(_run(capsys, cache, "--variant", "dense", "--rank", "density", "--top", "3", "--json"))["latents"]
    assert densest[0]["density"] >= densest[1]["density"] >= densest[2]["density"] > 0
    latent = densest[1]["latent"]
    record = json.loads(_run(capsys, cache, "--variant", "dense", "--latent", str(latent), "--json"))
    assert record["latent"] == latent and "dense" in record["sae"] and "match" not in record  # dense is the reference
    assert record["density"] == pytest.approx(densest[1]["density"])
    assert record["density"] == pytest.approx(record["n_active"] / (16 * 127), rel=0.05)  # ~127 non-BOS tokens a row
    acts = [c["act"] for c in record["top_contexts"]]
    assert acts == sorted(acts, reverse=True) and acts[0] == pytest.approx(record["max_act"])
    for ctx in record["top_contexts"] + [c for band in record["quantiles"] for c in band["examples"]]:
        assert len(ctx["tokens"]) == len(ctx["acts"]) and ctx["acts"][ctx["center"]] == pytest.approx(ctx["act"], abs=1e-4)
        assert ctx["first_pos"] + ctx["center"] == ctx["pos"] and 0 <= ctx["seq"] < 16
    assert sum(record["histogram"]["counts"]) == record["n_active"]
    assert len(record["logits"]["positive"]) == 10 and record["name"]
    text = _run(capsys, cache, "--variant", "dense", "--latent", str(latent))
    assert text.startswith(f"latent {latent} of resid layer 0") and "top contexts" in text and "quantile band 4" in text


@pytest.mark.slow
def test_cli_ranks_latents_against_the_reference(capsys, cache):
    args = ("--compression", "magnitude-50%", "--variant", "pruned25", "--top", "5", "--json")
    ranked = json.loads(_run(capsys, cache, "--rank", "most_changed", *args))
    corr = [row["corr"] for row in ranked["latents"]]
    assert ranked["ranking"] == "most_changed" and len(corr) == 5 and corr == sorted(corr)
    assert all(row["ref_latent"] == row["latent"] for row in ranked["latents"])  # pruning keeps indices
    record = json.loads(_run(capsys, cache, "--latent", str(ranked["latents"][0]["latent"]), *args[:4], "--json"))
    assert record["match"]["reference"] == "pretrained" and record["match"]["corr"] == pytest.approx(corr[0])
    assert record["match"]["enc_removed"] == pytest.approx(0.25, abs=0.01)  # WANDA removes 25% of every column here


def test_cli_refuses_a_ranking_without_reference(capsys, cache):
    code = main(["features", "--sae", "embedded/resid/layer_0", "--variant", "dense", "--rank", "dead", "--cache-dir", str(cache)])
    assert code == 2 and "reference" in capsys.readouterr().err


@pytest.fixture
def app(cache, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SAEVIZ_CACHE_DIR", str(cache))
    return AppTest.from_file(str(APP), default_timeout=240)


def _open(app, **params):
    app.query_params = {k: str(v) for k, v in params.items()}
    return app.switch_page("views/features.py").run()


def test_page_reopens_the_view_a_link_names(app, capsys, cache):
    _run(capsys, cache, "--variant", "dense", "--latent", "0")  # the statistics the link's view reads
    _open(app, site="resid", layer=0, variant="dense", latent=7, n=SEQUENCES)
    assert not app.exception, app.exception
    assert app.subheader[0].value.startswith("Latent 7:")
    assert app.number_input(key="fb_latent").value == 7 and app.selectbox(key="fb_variant").value == "dense"
    assert not [b for b in app.button if b.label == "Compute statistics"]  # read from the cache
    assert "<span title=" in app.html[0].value  # shaded tokens with their values on hover
    next_button = app.button(key="fb_next")
    next_button.click().run()
    assert app.subheader[0].value.startswith("Latent 8:")
    assert app.query_params["latent"] == "8" and app.query_params["variant"] == "dense" and app.query_params["n"] == SEQUENCES


def test_page_explains_a_bad_link_and_offers_to_compute(app):
    _open(app, site="nowhere", layer=0, variant="pretrained")
    assert not app.exception, app.exception
    assert "not understood" in app.warning[0].value
    assert [b for b in app.button if b.label == "Compute statistics"]  # resid layer 3 pretrained: not in this cache
