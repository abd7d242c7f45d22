"""SCR and TPP (saeviz.evals.scr_tpp): the pooled ablation against sae_bench's per-token one, node effects
against sae_bench's, SCR and TPP scores on hand-computed cases, and a small run on the embedded default."""

import math

import pytest
import torch

from saeviz.errors import SaevizError
from saeviz.evals import probing as P
from saeviz.evals import scr_tpp as S
from saeviz.evals.base import EvalInputs
from saeviz.specs import site_hook

HOOK = "blocks.0.hook_resid_post"


def _packed(acts_BLD):
    B, L, D = acts_BLD.shape
    return acts_BLD.reshape(B * L, D), torch.arange(B).repeat_interleave(L)


@pytest.mark.parametrize("arch,extra", [("standard", {}), ("topk", {}), ("jumprelu", {}),
                                        ("topk", {"rescale_acts_by_decoder_norm": True})])
def test_pooled_ablation_equals_sae_bench_per_token_ablation(make_sae, arch, extra):
    from sae_bench.evals.scr_and_tpp.main import ablated_precomputed_activations

    sae = make_sae(arch, 8, 16, HOOK, **extra)
    acts_BLD = torch.randn(5, 4, 8, generator=torch.Generator().manual_seed(1))
    ablate_F = torch.zeros(16, dtype=torch.bool)
    ablate_F[[1, 3, 7, 12]] = True
    with torch.no_grad():
        expected_BD = ablated_precomputed_activations(acts_BLD.clone(), sae, ablate_F, sae_batch_size=2)
    acts_TD, row_T = _packed(acts_BLD)
    got_BD = S.ablated_means(P.segment_mean(acts_TD, row_T, 5), P.pooled_latents(sae, acts_TD, row_T, 5),
                             ablate_F, S.decode_delta(sae))
    assert torch.allclose(got_BD, expected_BD, atol=1e-5)


def test_sae_bench_ablation_leaks_decoder_rows_at_zeroed_padding(make_sae):
    """The reason for packing: sae_bench zeroes a padded position, but a TopK SAE fires on a zero vector and
    its ablation does not mask those latents, so the padded row's mean moves; packed rows do not."""
    from sae_bench.evals.scr_and_tpp.main import ablated_precomputed_activations

    sae = make_sae("topk", 8, 16, HOOK)
    with torch.no_grad():
        ablate_F = sae.encode(torch.zeros(1, 8))[0] > 0  # exactly the latents a zero vector fires
        assert ablate_F.any()
        real_BLD = torch.randn(1, 3, 8, generator=torch.Generator().manual_seed(2))
        padded_BLD = torch.cat([real_BLD, torch.zeros(1, 1, 8)], dim=1)
        unpadded = ablated_precomputed_activations(real_BLD.clone(), sae, ablate_F, 4)
        leaked = ablated_precomputed_activations(padded_BLD.clone(), sae, ablate_F, 4)
    acts_TD, row_T = _packed(real_BLD)
    packed = S.ablated_means(P.segment_mean(acts_TD, row_T, 1), P.pooled_latents(sae, acts_TD, row_T, 1),
                             ablate_F, S.decode_delta(sae))
    assert torch.allclose(packed, unpadded, atol=1e-5)
    assert not torch.allclose(leaked, unpadded, atol=1e-3)


@pytest.mark.parametrize("perform_scr", [True, False])
def test_node_effects_equal_sae_bench(make_sae, perform_scr):
    from sae_bench.evals.scr_and_tpp.main import get_effects_per_class_precomputed_acts
    from sae_bench.evals.sparse_probing.probe_training import Probe

    sae = make_sae("topk", 8, 16, HOOK)
    gen = torch.Generator().manual_seed(3)
    keys = S.SCR_KEYS if perform_scr else ["a", "b", "c"]
    acts = {k: torch.randn(6, 4, 8, generator=gen) + i for i, k in enumerate(keys)}
    probe = Probe(8, torch.float32)
    name = keys[0]
    with P.seeded(0), torch.no_grad():
        expected = get_effects_per_class_precomputed_acts(sae, probe, name, acts, perform_scr, sae_batch_size=5)
    latents = {k: P.pooled_latents(sae, *_packed(v), 6) for k, v in acts.items()}
    with P.seeded(0):
        got = S.node_effects(latents, name, probe.net.weight.detach()[0], sae.W_dec.detach(), perform_scr)
    assert torch.allclose(got, expected, atol=1e-5)


# ---------------------------------------------------------------- hand-computed SCR

def _axis_sae(make_sae):
    """A ReLU SAE on 2-d inputs (profession, gender) with latents relu(p), relu(-p), relu(g), relu(-g):
    it reconstructs exactly, and ablating a latent removes that signed half of one axis."""
    sae = make_sae("standard", 2, 4, HOOK)
    with torch.no_grad():
        for p in sae.parameters():
            p.zero_()
        sae.W_enc.copy_(torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]]))
        sae.W_dec.copy_(sae.W_enc.T)
    return sae


def _probe(w, b=0.0):
    from sae_bench.evals.sparse_probing.probe_training import Probe

    probe = Probe(len(w), torch.float32)
    with torch.no_grad():
        probe.net.weight.copy_(torch.tensor([w]))
        probe.net.bias.fill_(b)
    return probe.eval()


@pytest.mark.parametrize("case", ["leans_on_gender", "leans_on_profession"])
def test_scr_scores_by_hand(make_sae, case):
    # one token per text, x = (profession, gender); professor/nurse and male/female values per case.
    # leans_on_gender: p = +1 / -0.5, g = +1 / -2, biased probe w = (1, 2): scores MP 3, MN 1.5, FP -3, FN -4.5.
    #   On profession data it is right on MP, FN only: 0.5; on gender data 1.0 = the gender probe's clean
    #   accuracy, so dir2 is 0 (sae_bench's rule for clean - original < 0.001) and scr_metric is dir1.
    #   Gender probe effects |mean(male) - mean(female)| x decoder.probe = (0, 0, 1, 2): n=1 ablates relu(-g),
    #   females get g = 0: FP 1 > 0 right, MN still wrong: 0.75, dir1 = (0.75 - 0.5) / (1 - 0.5) = 0.5;
    #   n=2 ablates both gender latents: 1.0, dir1 = 1; n=4: only 2 latents have an effect, same as n=2.
    # leans_on_profession is the mirror: p = +1 / -2, g = +1 / -0.5, w = (2, 1): dir1 = 0, dir2 = 0.5, 1, 1.
    p, g, w = ((1.0, -0.5), (1.0, -2.0), [1.0, 2.0]) if case == "leans_on_gender" else \
        ((1.0, -2.0), (1.0, -0.5), [2.0, 1.0])
    mp, mn, fp, fn = (torch.tensor([a, b]) for a, b in ((p[0], g[0]), (p[1], g[0]), (p[0], g[1]), (p[1], g[1])))
    rows = {"male / female": [mp, mn], "female_data_only": [fp, fn], "professor / nurse": [mp, fp],
            "nurse_data_only": [mn, fn], "male_professor / female_nurse": [mp, mp], "female_nurse_data_only": [fn, fn]}
    x = {k: torch.stack(v) for k, v in rows.items()}
    sae = _axis_sae(make_sae)
    with torch.no_grad():
        f = {k: sae.encode(v) for k, v in x.items()}
    probes = {"male / female": _probe([0.0, 1.0]), "professor / nurse": _probe([1.0, 0.0]),
              "male_professor / female_nurse": _probe(w)}
    got = S.scr_scores(sae, probes, x, f, f, (1, 2, 4), seed=0)
    ramp = {1: 0.5, 2: 1.0, 4: 1.0}
    dir1, dir2 = (ramp, dict.fromkeys(ramp, 0.0)) if case == "leans_on_gender" else (dict.fromkeys(ramp, 0.0), ramp)
    for n in (1, 2, 4):
        assert got[f"scr_dir1_threshold_{n}"] == pytest.approx(dir1[n])
        assert got[f"scr_dir2_threshold_{n}"] == pytest.approx(dir2[n])
        assert got[f"scr_metric_threshold_{n}"] == pytest.approx(ramp[n])
    biased = (0.5, 1.0) if case == "leans_on_gender" else (1.0, 0.5)
    assert (got["biased_probe_profession_accuracy"], got["biased_probe_gender_accuracy"]) == pytest.approx(biased)


# ---------------------------------------------------------------- hand-computed TPP

def test_tpp_scores_by_hand(make_sae):
    # classes c0 = (1, 0, 0), c1 = (0.8, 1, 0), c2 = (0, 0, 1), two identical rows each; identity ReLU SAE.
    # probes p0 = x0 - 0.5, p1 = x0 + x1 - 1.2, p2 = x2 - 0.5. Negatives: one row of each other class.
    # clean: p0 takes c1 (0.3 > 0) for positive: 0.75; p1, p2: 1.0.
    # effects (positive side only): c0 -> latent 0; c1 -> (0.3, 1, 0) x (1, 1, 0): latent 1 then 0; c2 -> latent 2.
    # n=1: ablate 0: p0 0.5 (intended 0.25), p1 loses c1 (0, 1, 0) -> -0.2: 0.5 (unintended 0.5), p2 1.0;
    #      ablate 1: p1 0.5 (intended 0.5), p0 0.75, p2 1.0; ablate 2: p2 0.5 (intended 0.5), others unchanged.
    #      intended (0.25 + 0.5 + 0.5) / 3, unintended (0.25 + 0 + 0) / 3, total 1/3.
    # n=2: ablating 0 and 1 for c1 also drops p0 to 0.5 (unintended for c1: (0.25 + 0) / 2 = 0.125):
    #      unintended (0.25 + 0.125 + 0) / 3, total 0.291667.
    sae = make_sae("standard", 3, 3, HOOK)
    with torch.no_grad():
        for p in sae.parameters():
            p.zero_()
        sae.W_enc.copy_(torch.eye(3))
        sae.W_dec.copy_(torch.eye(3))
    x = {c: torch.tensor([row] * 2) for c, row in (("c0", [1.0, 0, 0]), ("c1", [0.8, 1, 0]), ("c2", [0, 0, 1.0]))}
    probes = {"c0": _probe([1.0, 0, 0], -0.5), "c1": _probe([1.0, 1, 0], -1.2), "c2": _probe([0, 0, 1.0], -0.5)}
    got = S.tpp_scores(sae, probes, list(x), x, x, x, (1, 2), seed=0)
    assert got["llm_test_accuracy"] == pytest.approx((0.75 + 1 + 1) / 3)
    assert got["tpp_threshold_1_intended_diff_only"] == pytest.approx(1.25 / 3)
    assert got["tpp_threshold_1_unintended_diff_only"] == pytest.approx(0.25 / 3)
    assert got["tpp_threshold_1_total_metric"] == pytest.approx(1 / 3)
    assert got["tpp_threshold_2_intended_diff_only"] == pytest.approx(1.25 / 3)
    assert got["tpp_threshold_2_unintended_diff_only"] == pytest.approx(0.375 / 3)
    assert got["tpp_threshold_2_total_metric"] == pytest.approx(0.875 / 3)


def test_specs_say_what_to_change():
    with pytest.raises(ValueError, match="two different professions"):
        S.ScrSpec(pairs=(("nurse", "nurse"),))
    with pytest.raises(ValueError, match="positive numbers"):
        S.TppSpec(n_values=(0, 5))
    with pytest.raises(ValueError, match="at least two"):
        S.TppSpec(classes=("nurse",))


def test_decoder_with_run_time_normalisation_is_refused(make_sae):
    sae = make_sae("standard", 8, 16, HOOK, normalize_activations="layer_norm")
    with pytest.raises(SaevizError, match="affine"):
        S.decode_delta(sae)


# ---------------------------------------------------------------- the embedded default, small sets

@pytest.fixture(scope="module")
def embedded_inputs():
    from saeviz import embedded
    from saeviz.sae.load import flat_inputs, load_sae_dir

    return EvalInputs(model=embedded.load_model(), sae=flat_inputs(load_sae_dir(embedded.sae_dir("attn", 1))).eval(),
                      hook=site_hook("attn", 1), site="attn", layer=1, tokens=None, acts=None,
                      world=embedded.load_toyworld())


def _memo_counting():
    store, calls = {}, []

    def memo(name, fn):
        calls.append(name)
        if name not in store:
            store[name] = fn()
        return store[name]

    return memo, store


def test_scr_and_tpp_run_on_the_embedded_attention_site(embedded_inputs):
    memo, store = _memo_counting()
    inputs = EvalInputs(**{**vars(embedded_inputs), "memo": memo})
    scr_spec = S.ScrSpec(pairs=(("engineer", "nurse"),), train_size=64, test_size=32, n_values=(2, 20),
                         probe_epochs=2)
    scr = S.run_scr(inputs, scr_spec)
    value = {(r.item, r.metric): r.value for r in scr.itertuples()}
    head = {("", m) for m in ("n_pairs", "biased_probe_profession_accuracy", "biased_probe_gender_accuracy")}
    assert set(value) == head | {(f"k={n}", f"scr_{m}") for n in (2, 20) for m in ("dir1", "dir2", "metric")}
    assert all(math.isfinite(v) for v in value.values()) and 0.0 <= value[("", "biased_probe_gender_accuracy")] <= 1.0
    tpp = S.run_tpp(inputs, S.TppSpec(classes=("nurse", "pilot", "engineer"), train_size=48, test_size=24,
                                      n_values=(2, 20), probe_epochs=2))
    got = {(r.item, r.metric): r.value for r in tpp.itertuples()}
    assert got[("", "n_classes")] == 3 and 0.0 <= got[("", "llm_test_accuracy")] <= 1.0
    for n in (2, 20):
        intended, unintended = got[(f"k={n}", "tpp_intended")], got[(f"k={n}", "tpp_unintended")]
        assert got[(f"k={n}", "tpp_total")] == pytest.approx(intended - unintended)
    assert len(store) == 3  # SCR pair data + probes, TPP class activations, TPP probes: model-only, memoized
    assert S.run_scr(inputs, scr_spec).equals(scr) and len(store) == 3


def test_without_world_or_hub_the_error_says_so(embedded_inputs, monkeypatch):
    from saeviz.model import hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_reachable.cache_clear()
    inputs = EvalInputs(**{**vars(embedded_inputs), "world": None})
    try:
        with pytest.raises(SaevizError, match="hub, which is unreachable"):
            S.run_scr(inputs, S.ScrSpec())
        with pytest.raises(SaevizError, match="hub, which is unreachable"):
            S.run_tpp(inputs, S.TppSpec())
    finally:
        hub.hub_reachable.cache_clear()
