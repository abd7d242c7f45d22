"""The whole comparison on a tiny in-process model: every variant, PrunedBest, cache hits, resume."""

import pytest
import torch
from conftest import build_sae

from saeviz.jobs import Cancelled
from saeviz.pipeline.sweep import SweepSpec, run_sweep
from saeviz.pipeline.workbench import Workbench
from saeviz.sae.variants import select_pruned_best
from saeviz.specs import BestRule, CompressSpec, EvalSpec, ModelSpec, TrainSpec
from saeviz.store.db import Store

HOOKS = {"attn": "blocks.{layer}.attn.hook_z", "mlp": "blocks.{layer}.hook_mlp_out", "resid": "blocks.{layer}.hook_resid_post"}


@pytest.fixture
def tiny_saes(tmp_path):
    for site, hook in HOOKS.items():
        for layer in range(2):
            build_sae("topk", 32, 64, hook.format(layer=layer), seed=layer).save_model(tmp_path / "saes" / f"{site}_{layer}")
    return str(tmp_path / "saes" / "{site}_{layer}")


@pytest.fixture
def tiny_token_sets():
    gen = torch.Generator().manual_seed(5)
    return {split: torch.randint(0, 100, (n, 16), generator=gen) for split, n in (("calibration", 8), ("eval", 8), ("train", 32))}


@pytest.fixture
def forward_counter(monkeypatch):
    from transformer_lens import HookedTransformer

    calls = {"n": 0}
    original = HookedTransformer.forward

    def counting(self, *args, **kwargs):
        calls["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HookedTransformer, "forward", counting)
    return calls


SPEC = SweepSpec(
    compression=CompressSpec(method="wanda", sparsity=0.5, n_calibration=8),
    layers=(1,), sae_sparsities=(0.0, 0.25, 0.5, 0.9),
    retrain=TrainSpec(training_tokens=2048, batch_size_tokens=128, lr=3e-3, checkpoints=0),
    eval=EvalSpec(n_sequences=8, batch_size=8),
)


def _bench(tmp_path, tiny_model, tiny_saes, tokens):
    return Workbench(ModelSpec(name="tiny"), Store(tmp_path / "cache"), sae_template=tiny_saes, model=tiny_model, tokens=tokens)


def test_sweep_computes_every_variant_then_serves_from_cache(tmp_path, tiny_model, tiny_saes, tiny_token_sets, forward_counter):
    rows = run_sweep(_bench(tmp_path, tiny_model, tiny_saes, tiny_token_sets), SPEC)
    assert forward_counter["n"] > 0
    units = rows.dropna(subset=["site"])
    assert set(units["site"]) == {"attn", "mlp", "resid"} and set(units["layer"]) == {1}
    assert set(units["variant"]) == {"dense", "pretrained", "retrained", "pruned", "pruned_best"}
    mse = units[units.metric == "mse"].set_index(["site", "variant", "sae_sparsity"])["value"]
    pretrained = units[(units.variant == "pretrained") & (units.metric == "mse")].set_index("site")["value"]
    for site in HOOKS:
        assert mse[site, "pruned", 0.0] == pytest.approx(pretrained[site])  # 0% pruning is the pretrained SAE
        assert mse[site, "pruned", 0.9] != pytest.approx(mse[site, "pruned", 0.0])
    best = units[(units.variant == "pruned_best")]
    assert (best["sae_sparsity"] >= 0.25).all()
    assert set(best[best.metric == "within_tolerance"]["value"]) <= {0.0, 1.0} and len(best[best.metric == "within_tolerance"]) == 3
    model_rows = rows[rows.site.isna()]
    ce = dict(zip(model_rows["compression"], model_rows["value"]))
    assert set(ce) == {"dense", "wanda-50%"} and ce["dense"] != ce["wanda-50%"]

    bench_key = _bench(tmp_path, tiny_model, tiny_saes, tiny_token_sets).compress_key(SPEC.compression)
    store = Store(tmp_path / "cache")
    assert set(store.get_tensors("model_masks", bench_key)) == {f"{l}.{m}" for l in range(2) for m in SPEC.compression.matrices}
    assert store.get_tensors("calib_norms", bench_key)["1.W_in"].shape == (32,)
    assert len(store.timings("retrain")) == 3 and (store.timings("retrain")["tokens"] == 2048).all()

    forward_counter["n"] = 0
    again = run_sweep(_bench(tmp_path, tiny_model, tiny_saes, tiny_token_sets), SPEC)
    assert forward_counter["n"] == 0  # served entirely from the cache
    assert again.sort_values(["run_key", "metric"]).reset_index(drop=True).equals(rows.sort_values(["run_key", "metric"]).reset_index(drop=True))


def test_cancelled_sweep_resumes_without_redoing_work(tmp_path, tiny_model, tiny_saes, tiny_token_sets, forward_counter):
    spec = SweepSpec(compression=SPEC.compression, layers=(0, 1), sites=("mlp",), sae_sparsities=(0.0, 0.5),
                     eval=SPEC.eval)
    with pytest.raises(Cancelled):
        run_sweep(_bench(tmp_path, tiny_model, tiny_saes, tiny_token_sets), spec, progress=lambda done, total, msg="": done < 6)
    partial = forward_counter["n"]
    forward_counter["n"] = 0
    run_sweep(_bench(tmp_path, tiny_model, tiny_saes, tiny_token_sets), spec)
    resumed = forward_counter["n"]
    forward_counter["n"] = 0
    run_sweep(_bench(tmp_path / "fresh", tiny_model, tiny_saes, tiny_token_sets), spec)
    assert 0 < resumed < forward_counter["n"]
    assert partial > 0


def test_pruned_best_rule():
    losses = {0.0: 1.0, 0.1: 1.0, 0.25: 1.02, 0.5: 1.08, 0.75: 1.3, 0.9: 2.0}
    assert select_pruned_best(losses, 1.0, BestRule(tolerance=0.1)) == (0.5, True)
    assert select_pruned_best(losses, 1.0, BestRule(tolerance=0.1, pick="smallest")) == (0.25, True)
    assert select_pruned_best(losses, 0.5, BestRule(tolerance=0.1)) == (0.25, False)  # none within: lowest loss >= 25%
    assert select_pruned_best(losses, None, BestRule()) == (0.25, False)
    with pytest.raises(ValueError, match=">= 0.25"):
        select_pruned_best({0.0: 1.0, 0.1: 1.1}, 1.0, BestRule())


def test_embedded_results_are_keyed_by_the_asset_build(tmp_path, monkeypatch):
    from saeviz.pipeline import workbench as experiment

    store = Store(tmp_path / "cache")
    before = experiment.Workbench(ModelSpec(), store).model_key
    other = Workbench(ModelSpec(name="tiny"), store, tokens_source=str(tmp_path), sae_template=str(tmp_path / "{site}")).model_key
    monkeypatch.setattr(experiment, "embedded_fingerprint", lambda: "a-rebuilt-build")
    assert experiment.Workbench(ModelSpec(), store).model_key != before  # a rebuild invalidates cached results
    assert Workbench(ModelSpec(name="tiny"), store, tokens_source=str(tmp_path),
                     sae_template=str(tmp_path / "{site}")).model_key == other  # nothing embedded: unaffected


def test_a_sweep_collects_every_units_activations_in_one_pass_per_model_and_split(tmp_path, tiny_model, tiny_saes,
                                                                                   tiny_token_sets, monkeypatch):
    from saeviz.pipeline import activation_cache, sweep

    spec = SweepSpec(compression=SPEC.compression, layers=(0, 1), sae_sparsities=(0.0, 0.5), eval=SPEC.eval)
    passes = []
    original = activation_cache.collect_activations_multi
    monkeypatch.setattr(activation_cache, "collect_activations_multi",
                        lambda model, hooks, tokens: (passes.append((len(hooks), tokens.shape[0])), original(model, hooks, tokens))[1])
    rows = run_sweep(_bench(tmp_path, tiny_model, tiny_saes, tiny_token_sets), spec)
    # dense eval, compressed eval, compressed calibration: all six hooks (3 sites x 2 layers) each time
    assert passes == [(6, 8), (6, 8), (6, 8)]
    passes.clear()
    monkeypatch.setattr(sweep, "preload", lambda *args: None)
    one_by_one = run_sweep(_bench(tmp_path / "other", tiny_model, tiny_saes, tiny_token_sets), spec)
    assert len(passes) == 6  # a layer's three sites at a time, for each model and split
    key = ["site", "layer", "variant", "sae_sparsity", "item", "metric"]
    assert rows.sort_values(key)["value"].tolist() == one_by_one.sort_values(key)["value"].tolist()
