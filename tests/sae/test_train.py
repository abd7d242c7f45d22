"""Retraining an SAE through sae_lens' trainer: it learns, it cancels, and it resumes exactly."""

import pytest
import torch

from saeviz.jobs import Cancelled
from saeviz.sae.train import retrain_like
from saeviz.specs import TrainSpec

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture
def train_tokens():
    return torch.randint(0, 100, (64, 16), generator=torch.Generator().manual_seed(3))


def _fvu(sae, model, tokens):
    from saeviz.model.activations import hook_activations

    acts = hook_activations(model, HOOK, tokens).flatten(0, 1)
    with torch.no_grad():
        recon = sae.decode(sae.encode(acts))
    return ((acts - recon) ** 2).sum() / ((acts - acts.mean(0)) ** 2).sum()


def test_retrained_sae_matches_pretrained_shape_and_learns(tiny_model, make_sae, train_tokens, tmp_path):
    pretrained = make_sae("topk", d_in=32, d_sae=64, hook_name=HOOK)
    spec = TrainSpec(training_tokens=8192, batch_size_tokens=128, lr=3e-3, checkpoints=0)
    result = retrain_like(pretrained, tiny_model, train_tokens, spec, tmp_path)
    sae = result.sae
    assert (sae.cfg.architecture(), sae.cfg.d_in, sae.cfg.d_sae, sae.cfg.k) == ("topk", 32, 64, 8)
    assert sae.cfg.metadata.hook_name == HOOK
    assert result.tokens == 8192 and result.seconds > 0
    assert _fvu(sae, tiny_model, train_tokens[:8]) < 0.5 * _fvu(pretrained, tiny_model, train_tokens[:8])


def test_cancel_then_resume_equals_uninterrupted(tiny_model, make_sae, train_tokens, tmp_path):
    pretrained = make_sae("topk", d_in=32, d_sae=64, hook_name=HOOK)
    spec = TrainSpec(training_tokens=4096, batch_size_tokens=128, lr=3e-3, checkpoints=3)
    straight = retrain_like(pretrained, tiny_model, train_tokens, spec, tmp_path / "a").sae

    def stop_late(done, total, message=""):
        return done < 3000

    with pytest.raises(Cancelled):
        retrain_like(pretrained, tiny_model, train_tokens, spec, tmp_path / "b", progress=stop_late)
    resumed = retrain_like(pretrained, tiny_model, train_tokens, spec, tmp_path / "b")
    assert resumed.resumed_from > 0 and resumed.tokens < 4096
    for name, value in straight.state_dict().items():
        assert torch.allclose(value, resumed.sae.state_dict()[name], atol=1e-5), name


def test_unsupported_architecture_is_a_clear_error(tiny_model, make_sae, train_tokens, tmp_path):
    from saeviz.sae.train import training_config_like

    sae = make_sae("topk", d_in=32, d_sae=64, hook_name=HOOK)
    sae.cfg.architecture = lambda: "matryoshka"
    with pytest.raises(ValueError, match="not supported yet"):
        training_config_like(sae, TrainSpec(training_tokens=4096))


def test_stream_yields_full_batches_when_a_sequence_is_short_of_a_batch(tiny_model):
    from saeviz.sae.train import ActivationStream

    tokens = torch.randint(0, 100, (64, 16), generator=torch.Generator().manual_seed(0))
    stream = iter(ActivationStream(tiny_model, HOOK, tokens, batch_size=100, seed=0))
    batches = [next(stream) for _ in range(12)]  # 100 tokens > one 16-token sequence
    assert all(b.shape == (100, 32) for b in batches)
    with pytest.raises(ValueError, match="cannot fill one batch"):
        ActivationStream(tiny_model, HOOK, tokens[:4], batch_size=100, seed=0)  # 4 x 15 < 100
