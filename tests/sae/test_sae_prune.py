"""Pruning an SAE's own weights: orientation, WANDA inputs, exact sparsity, untouched biases."""

import pytest
import torch
from conftest import SAE_ARCHITECTURES

from saeviz.compression.math import wanda_mask
from saeviz.sae.prune import apply_sae_masks, latent_norm, prune_sae, sae_input_norm
from saeviz.specs import SaePruneSpec


@pytest.fixture
def acts():
    return torch.randn(512, 32, generator=torch.Generator().manual_seed(0)) * torch.linspace(0.1, 3, 32)


@pytest.mark.parametrize("arch", SAE_ARCHITECTURES)
@pytest.mark.parametrize("method", ["wanda", "magnitude"])
def test_exact_sparsity_and_untouched_biases(arch, method, make_sae, acts):
    sae = make_sae(arch, d_in=32, d_sae=64, hook_name="blocks.0.hook_resid_post")
    before = {k: v.clone() for k, v in sae.state_dict().items()}
    out = prune_sae(sae, SaePruneSpec(method=method, sparsity=0.5), acts)
    assert out.achieved == {"W_enc": 0.5, "W_dec": 0.5}
    # every output row of the nn.Linear views loses exactly half its inputs
    assert ((out.sae.W_enc == 0).sum(0) == 16).all() and ((out.sae.W_dec == 0).sum(0) == 32).all()
    for name, value in out.sae.state_dict().items():
        if name not in ("W_enc", "W_dec"):
            assert torch.equal(value, before[name]), name
    assert all(torch.equal(v, sae.state_dict()[k]) for k, v in before.items())  # original untouched
    assert type(out.sae) is type(sae)
    rebuilt = apply_sae_masks(sae, out.masks)
    assert all(torch.equal(v, out.sae.state_dict()[k]) for k, v in rebuilt.state_dict().items())


def test_encoder_scores_use_sae_input_norms(make_sae, acts):
    sae = make_sae("standard", d_in=32, d_sae=64, hook_name="blocks.0.hook_resid_post")
    out = prune_sae(sae, SaePruneSpec(method="wanda", sparsity=0.25, matrices=("W_enc",)), acts)
    norms = (acts - sae.b_dec.detach()).norm(dim=0)  # apply_b_dec_to_input: W_enc sees x - b_dec
    assert torch.allclose(sae_input_norm(sae, acts), norms, rtol=1e-5)
    expected = wanda_mask(sae.W_enc.detach().T, norms, 0.25).T
    assert torch.equal(out.masks["W_enc"], expected)
    assert "W_dec" not in out.masks and torch.equal(out.sae.W_dec, sae.W_dec)


def test_decoder_scored_with_pruned_encoder_latents(make_sae, acts):
    sae = make_sae("topk", d_in=32, d_sae=64, hook_name="blocks.0.hook_resid_post")
    out = prune_sae(sae, SaePruneSpec(method="wanda", sparsity=0.5), acts)
    enc_only = prune_sae(sae, SaePruneSpec(method="wanda", sparsity=0.5, matrices=("W_enc",)), acts).sae
    expected = wanda_mask(sae.W_dec.detach().T, latent_norm(enc_only, acts), 0.5).T
    assert torch.equal(out.masks["W_dec"], expected)
    # and it differs from scoring with the unpruned encoder's latents (so the order matters here)
    assert not torch.equal(expected, wanda_mask(sae.W_dec.detach().T, latent_norm(sae, acts), 0.5).T)


def test_wanda_without_activations_is_refused(make_sae):
    with pytest.raises(ValueError, match="calibration activations"):
        prune_sae(make_sae("topk", 32, 64, "blocks.0.hook_resid_post"), SaePruneSpec(method="wanda"))
    with pytest.raises(ValueError, match="fraction"):
        SaePruneSpec(sparsity=1.5)


def test_decoder_norm_rescaling_topk_survives_whole_latents_pruned(make_sae, acts):
    sae = make_sae("topk", d_in=32, d_sae=64, hook_name="blocks.0.hook_resid_post", rescale_acts_by_decoder_norm=True)
    with torch.no_grad():
        sae.W_enc[:, :8] = 0.0
        sae.b_enc[:8] = -1e4  # 8 latents that never fire: WANDA drops their whole decoder rows
    unpruned = prune_sae(sae, SaePruneSpec(method="wanda", sparsity=0.0), acts).sae
    assert torch.allclose(unpruned(acts), sae(acts), atol=1e-5)  # folding the norms changes nothing
    out = prune_sae(sae, SaePruneSpec(method="wanda", sparsity=0.5), acts)
    assert (out.sae.W_dec[:8] == 0).all()
    assert torch.isfinite(out.sae(acts)).all()
    assert torch.allclose(apply_sae_masks(sae, out.masks)(acts), out.sae(acts))
