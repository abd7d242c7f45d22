"""The core evaluation: agreement with sae_bench 0.6 on the same SAE and tokens, and its two formula defects;
cache keys per variant; the metrics-table migration from schema 1."""

import pytest
import torch

from saeviz.model.activations import keep_positions, special_token_ids
from saeviz.pipeline.runner import evaluate, evaluate_suite, wide
from saeviz.pipeline.workbench import Workbench
from saeviz.sae.variants import VariantSpec
from saeviz.specs import DENSE, CompressSpec, EvalSpec, ModelSpec, site_hook
from saeviz.store.db import Store

SPEC = EvalSpec(n_sequences=16, batch_size=8)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return Workbench(ModelSpec(), Store(tmp_path_factory.mktemp("cache")))


def _values(rows):
    return dict(zip(rows["metric"], rows["value"]))


@pytest.mark.slow
@pytest.mark.parametrize("site", ["resid", "attn"])
def test_sae_bench_core_agrees_except_its_two_defects(bench, site):
    layer = 1
    ours = _values(evaluate(bench, DENSE, VariantSpec("pretrained"), site, layer, "core", SPEC))
    theirs = _values(evaluate(bench, DENSE, VariantSpec("pretrained"), site, layer, "sae_bench_core", SPEC))
    for name in ("cossim", "l0", "l1", "frac_alive", "l2_norm_in", "l2_norm_out", "l2_ratio",
                 "freq_over_1_percent", "average_max_decoder_cosine_sim", "average_max_encoder_cosine_sim"):
        assert theirs[name] == pytest.approx(ours[name], rel=1e-4), name
    # sae_bench averages the per-batch ratio E||x_hat||^2 / E<x, x_hat>; saeviz takes it over all tokens
    assert theirs["relative_reconstruction_bias"] == pytest.approx(ours["relative_reconstruction_bias"], rel=1e-3)
    # which positions count differs (sae_bench also scores predicting a separator): small gaps only
    assert theirs["ce_loss_score"] == pytest.approx(ours["ce_loss_score"], rel=5e-3)
    assert theirs["kl_div_with_sae"] == pytest.approx(ours["kl_div_with_sae"], rel=2e-2)
    assert theirs["ce_loss_without_sae"] == pytest.approx(ours["ce_loss_without_sae"], rel=1e-2)

    # defect 1 and 2, recomputed from the same activations with sae_bench's formulas
    hook = site_hook(site, layer)
    acts = bench.activations(DENSE, hook, "eval", SPEC.n_sequences).double()
    sae = bench.pretrained_sae(site, layer)
    with torch.no_grad():
        err = ((acts - sae.decode(sae.encode(acts.float())).double()) ** 2).sum(-1)
    keep = keep_positions(bench.tokens("eval")[: SPEC.n_sequences], special_token_ids(bench.base_model))
    per_batch = [int(k.sum()) for k in keep.split(SPEC.batch_size)]
    bench_mse = torch.cat([e / n for e, n in zip(err.split(per_batch), per_batch)]).mean()
    assert theirs["mse"] == pytest.approx(float(bench_mse), rel=1e-3)
    assert theirs["mse"] / ours["mse"] == pytest.approx(acts.shape[1] / (sum(per_batch) / len(per_batch)), rel=1e-2)
    total_legacy = (acts ** 2).sum(-1).mean() - (acts ** 2).mean(0).mean() ** 2
    assert theirs["explained_variance"] == pytest.approx(float(1 - err.mean() / total_legacy), abs=1e-4)
    total = ((acts - acts.mean(0)) ** 2).sum(-1).mean()
    assert ours["explained_variance"] == pytest.approx(float(1 - err.mean() / total), abs=1e-5)
    assert theirs["explained_variance"] > ours["explained_variance"]


def test_variants_have_their_own_rows_and_are_read_back(bench, monkeypatch):
    comp = CompressSpec(method="magnitude", sparsity=0.5)
    spec = EvalSpec(n_sequences=4, batch_size=4)
    variants = [VariantSpec("dense"), VariantSpec("pretrained"), VariantSpec("pruned", 0.5, "magnitude")]
    rows = evaluate_suite(bench, comp, "mlp", 0, variants, ["core"], {"core": spec})
    table = wide(rows).set_index("metric")
    assert list(table.columns[-3:]) == ["dense", "pretrained", "pruned50"]
    assert table.loc["ce_loss_without_sae", "dense"] != table.loc["ce_loss_without_sae", "pretrained"]
    assert table.loc["ce_loss_without_sae", "pretrained"] == table.loc["ce_loss_without_sae", "pruned50"]
    assert table.loc["mse", "pruned50"] > table.loc["mse", "pretrained"]
    assert set(rows["compression"]) == {"dense", "magnitude-50%"}

    from saeviz.pipeline import runner

    monkeypatch.setattr(runner, "eval_inputs", lambda *a, **k: pytest.fail("recomputed a cached evaluation"))
    again = evaluate_suite(bench, comp, "mlp", 0, variants, ["core"], {"core": spec})
    assert again["value"].tolist() == rows["value"].tolist()


def test_pruned_zero_is_the_pretrained_run(bench):
    a = evaluate(bench, DENSE, VariantSpec("pretrained"), "resid", 0, "core", EvalSpec(n_sequences=2, batch_size=2))
    b = evaluate(bench, DENSE, VariantSpec.parse("pruned0"), "resid", 0, "core", EvalSpec(n_sequences=2, batch_size=2))
    assert a["run_key"].iloc[0] == b["run_key"].iloc[0] and set(b["variant"]) == {"pruned"}


def test_variant_parsing():
    assert VariantSpec.parse("pruned25") == VariantSpec("pruned", 0.25)
    assert VariantSpec.parse("pruned0.3").sae_sparsity == 0.3 and VariantSpec.parse("pruned_7.5").sae_sparsity == 0.075
    assert VariantSpec.parse("Trained").kind == "retrained" and VariantSpec.parse("pruned_best").kind == "pruned_best"
    assert VariantSpec("pruned", 0.25).label() == "pruned25" and VariantSpec("pruned", 0.075).label() == "pruned7.5"
    with pytest.raises(ValueError, match="unknown"):
        VariantSpec.parse("shrunk")


def test_schema_1_cache_is_migrated_in_place(tmp_path):
    import duckdb

    db = tmp_path / "saeviz.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE metrics (run_key VARCHAR, model VARCHAR, compression VARCHAR, site VARCHAR, layer INTEGER, "
                "variant VARCHAR, sae_sparsity DOUBLE, metric VARCHAR, value DOUBLE, created TIMESTAMP, PRIMARY KEY (run_key, metric))")
    con.execute("INSERT INTO metrics VALUES ('k1', 'embedded', 'wanda-50%', 'resid', 2, 'pretrained', NULL, 'mse', 0.5, now())")
    con.close()
    store = Store(tmp_path)
    assert store.run_metrics("k1") == {"mse": 0.5}  # readable before any write
    store.put_metrics({"run_key": "k2", "eval": "ravel"}, {"cause": 0.7})  # the first write migrates
    old = store.metrics(run_key="k1")
    assert old[["eval", "item", "metric", "value"]].values.tolist() == [["core", "", "mse", 0.5]]
    assert store.run_metrics("k2") == {"cause": 0.7}
