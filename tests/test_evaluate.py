"""Metrics on hand-computed tensors, and the splice: an identity SAE costs nothing, a zero SAE everything."""

import pytest
import torch

from saeviz import metrics
from saeviz.evaluate import downstream_metrics, zero_ablation_ce


def test_reconstruction_metrics_by_hand():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    x_hat = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    f = torch.tensor([[2.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    assert metrics.mse(x, x_hat) == pytest.approx(0.25)
    # total variance around the mean (0.5, 0.5): 4 * 0.25 = 1; residual 1 -> EV 0
    assert metrics.explained_variance(x, x_hat) == pytest.approx(0.0)
    assert metrics.explained_variance(x, x) == pytest.approx(1.0)
    assert metrics.cosine_similarity(x, x_hat) == pytest.approx(0.5)  # 1 and 0 (a zero vector has cos 0)
    assert metrics.l0(f) == 1.0 and metrics.l1(f) == pytest.approx(1.5)
    assert metrics.dead_fraction(f) == pytest.approx(1 / 3)
    assert metrics.ce_loss_score(2.0, 2.5, 4.0) == pytest.approx(0.75)


class _Fake:
    """Just enough of an SAE for the splice: encode/decode on flat activations."""

    dtype, device = torch.float32, "cpu"

    def __init__(self, scale: float):
        self.scale = scale

    def encode(self, x):
        return x * self.scale

    def decode(self, f):
        return f


@pytest.mark.parametrize("hook", ["blocks.0.hook_mlp_out", "blocks.1.attn.hook_z"])
def test_identity_and_zero_splices(tiny_model, tiny_tokens, hook):
    identity = downstream_metrics(tiny_model, _Fake(1.0), hook, tiny_tokens, batch_size=3)
    assert identity["ce_sae"] == pytest.approx(identity["ce_clean"], abs=1e-5)
    assert identity["kl_div"] == pytest.approx(0.0, abs=1e-6)
    assert identity["ce_loss_score"] == pytest.approx(1.0, abs=1e-3)
    zero = downstream_metrics(tiny_model, _Fake(0.0), hook, tiny_tokens, batch_size=8)
    assert zero["ce_sae"] == pytest.approx(zero["ce_zero"], abs=1e-5)
    assert zero["ce_loss_score"] == pytest.approx(0.0, abs=1e-3) and zero["kl_div"] > 0
    assert zero_ablation_ce(tiny_model, hook, tiny_tokens) == pytest.approx(zero["ce_zero"], abs=1e-6)
