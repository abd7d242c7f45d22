"""Matching latents between SAE variants and measuring what changed, on cases with known answers."""

import math

import numpy as np
import pytest
import torch

from saeviz.features.diff import (
    MatchSpec,
    PairedAccumulator,
    changes_frame,
    decoder_cosine,
    identity_pairs,
    match_latents,
    rank_latents,
    unmatched_reference,
    weight_removed,
)


def _permuted(F=64, D=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(F, D, generator=gen)
    perm = torch.randperm(F, generator=gen)
    return W, perm, W[perm] * 2.5  # latent j of the second SAE is latent perm[j] of the first, rescaled


@pytest.mark.parametrize("method", ["hungarian", "mutual"])
def test_matching_recovers_a_permutation(method):
    W, perm, W_perm = _permuted()
    ref, cos = match_latents(W, W_perm, MatchSpec(method=method))
    assert torch.equal(ref, perm)
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-5)


def test_weak_pairs_are_unmatched_but_keep_their_cosine():
    W_ref = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    W = torch.tensor([[0.0, 2.0], [1.0, 1.0]])  # latent 0 = ref 1; latent 1 at 45 degrees to ref 0
    ref, cos = match_latents(W_ref, W, MatchSpec(min_cosine=0.8))
    assert ref.tolist() == [1, -1]
    assert cos[1].item() == pytest.approx(1 / math.sqrt(2))
    assert decoder_cosine(torch.zeros(1, 2), W_ref).tolist() == [[0.0, 0.0]]  # a pruned-away row matches nothing


def test_spec_rejects_unknown_method():
    with pytest.raises(ValueError, match="hungarian"):
        MatchSpec(method="greedy")


def test_correlation_density_and_dead_latents():
    # same tokens; latent 0 unchanged (x2 scale: corr 1), latent 1 anti-correlated, latent 2 dies
    a = torch.tensor([[1.0, 0.0, 1.0], [0.0, 2.0, 0.0], [2.0, 1.0, 3.0], [0.0, 0.0, 0.0]])
    b = torch.stack([a[:, 0] * 2, 2.0 - a[:, 1], torch.zeros(4)], dim=1)
    acc = PairedAccumulator(torch.arange(3), d_ref=3)
    acc.update(a[:2], b[:2]), acc.update(a[2:], b[2:])  # chunked
    corr = acc.correlation()
    assert corr[0].item() == pytest.approx(1.0) and corr[1].item() == pytest.approx(-1.0) and math.isnan(corr[2].item())
    ref, cos = identity_pairs(torch.eye(3), torch.eye(3))
    df = changes_frame(ref, cos, acc, n_tokens=4)
    assert df["density_ref"].tolist() == [0.5, 0.5, 0.5] and df["density"].tolist() == [0.5, 0.75, 0.0]
    assert df["dead_after"].tolist() == [False, False, True]
    assert rank_latents(df, "dead")["latent"].tolist() == [2]
    assert rank_latents(df, "most_changed")["latent"].tolist() == [1, 0]
    assert rank_latents(df, "density", top=1)["latent"].tolist() == [1]


def test_weight_removed_per_latent():
    W_enc_ref = torch.tensor([[1.0, 1.0], [1.0, 0.0]])  # [d_in, d_sae]: latent 1 has one non-zero weight
    W_enc = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert weight_removed(W_enc_ref, W_enc, latent_dim=1).tolist() == [0.5, 0.0]
    assert weight_removed(W_enc_ref.T, W_enc.T, latent_dim=0).tolist() == [0.5, 0.0]


def test_unmatched_ranking_and_lost_reference_latents():
    W_ref = torch.eye(3)
    W = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])  # latent 2 points away from ref 2
    ref, cos = match_latents(W_ref, W)
    acc = PairedAccumulator(ref, d_ref=3)
    acc.update(torch.ones(2, 3), torch.ones(2, 3))
    df = changes_frame(ref, cos, acc, n_tokens=2)
    assert rank_latents(df, "unmatched")["latent"].tolist()[0] == 2
    assert unmatched_reference(df, 3).tolist() == [2]
    assert np.isnan(df["enc_removed"]).all()
    with pytest.raises(ValueError, match="most_changed"):
        rank_latents(df, "weirdest")


def test_retrained_sae_built_as_a_permutation_is_matched_through_the_workbench(tiny_model, tiny_tokens, make_sae, tmp_path, monkeypatch):
    """compute_changes pairs a 'retrained' SAE (here: the pretrained one with its latents permuted) with the
    pretrained one by decoder cosine: the assignment is the permutation, and paired activations agree."""
    import copy

    from saeviz.features.stats import FeatureSpec
    from saeviz.pipeline import feature_jobs as fj
    from saeviz.pipeline.workbench import Workbench
    from saeviz.sae.variants import VariantSpec
    from saeviz.specs import DENSE, ModelSpec
    from saeviz.store.db import Store

    sae = make_sae("standard", 32, 48, "blocks.1.hook_resid_post")
    perm = torch.randperm(48, generator=torch.Generator().manual_seed(1))
    permuted = copy.deepcopy(sae)
    with torch.no_grad():
        permuted.W_enc.copy_(sae.W_enc[:, perm]), permuted.b_enc.copy_(sae.b_enc[perm]), permuted.W_dec.copy_(sae.W_dec[perm])
    bench = Workbench(ModelSpec(name="tiny"), Store(tmp_path), model=tiny_model, tokens={"eval": tiny_tokens})
    monkeypatch.setattr(fj, "sae_of", lambda b, c, s, l, v, *a, **k: permuted if v.kind == "retrained" else sae)
    changes = fj.latent_changes(bench, DENSE, "resid", 1, VariantSpec("retrained"), FeatureSpec(), MatchSpec())
    assert changes["ref_latent"].tolist() == perm.tolist()
    assert np.allclose(changes["cosine"], 1.0, atol=1e-5)
    alive = changes["density"] > 0
    assert alive.any() and np.allclose(changes.loc[alive, "corr"], 1.0, atol=1e-5)
    assert np.allclose(changes["density"], changes["density_ref"]) and not changes["dead_after"].any()
    assert np.isnan(changes["enc_removed"]).all()  # retrained weights are not comparable with the pretrained ones
    counterpart = fj.counterpart(bench, DENSE, "resid", 1, VariantSpec("pretrained"), int(perm[5]), VariantSpec("retrained"))
    assert counterpart["latent"] == 5 and counterpart["cosine"] == pytest.approx(1.0, abs=1e-5)
