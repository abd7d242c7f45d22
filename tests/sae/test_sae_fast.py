"""The sparse TopK path equals sae_lens' own encode/decode, pruned and rescaled SAEs included."""

import copy

import pytest
import torch

from saeviz.evals.measure import reconstruction_stats
from saeviz.evals.metrics import reconstruction_metrics
from saeviz.sae.prune import latent_norm, prune_sae
from saeviz.sae.sparse import latent_sq_sums, sparse_code, sparse_decode, supports_sparse
from saeviz.specs import SaePruneSpec


@pytest.mark.parametrize("rescale", [False, True])
def test_sparse_code_and_decode_equal_the_dense_path(make_sae, rescale):
    sae = make_sae("topk", 16, 48, "blocks.0.hook_resid_post", rescale_acts_by_decoder_norm=rescale)
    x = torch.randn(37, 16, generator=torch.Generator().manual_seed(2))
    values, indices = sparse_code(sae, x)
    with torch.no_grad():
        dense = sae.encode(x)
        assert torch.allclose(torch.zeros_like(dense).scatter(-1, indices, values), dense, atol=1e-6)
        assert torch.allclose(sparse_decode(sae, values, indices), sae.decode(dense), atol=1e-5)
    assert torch.allclose(latent_sq_sums(values, indices, 48), dense.double().square().sum(0), atol=1e-9)


def test_stats_and_wanda_norms_match_after_pruning(make_sae):
    sae = make_sae("topk", 16, 48, "blocks.0.hook_resid_post")
    x = torch.randn(200, 16, generator=torch.Generator().manual_seed(3))
    pruned = prune_sae(sae, SaePruneSpec(method="wanda", sparsity=0.6), x).sae
    assert supports_sparse(pruned)
    with torch.no_grad():
        f = pruned.encode(x)
        dense = reconstruction_metrics(x, pruned.decode(f), f)
        dense_norm = f.double().square().sum(0).sqrt().float()
    assert reconstruction_stats(pruned, x, batch_tokens=64) == pytest.approx(dense, rel=1e-5, abs=1e-7)
    assert torch.allclose(latent_norm(pruned, x), dense_norm, atol=1e-5)


def test_other_architectures_keep_the_dense_path(make_sae):
    for arch in ("standard", "jumprelu"):
        sae = make_sae(arch, 16, 32, "blocks.0.hook_resid_post")
        assert sparse_code(sae, torch.randn(4, 16)) is None
    topk = make_sae("topk", 16, 32, "blocks.0.hook_resid_post")
    normalised = copy.deepcopy(topk)
    normalised.cfg.normalize_activations = "expected_average_only_in"
    assert not supports_sparse(normalised)
