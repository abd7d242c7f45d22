"""Metrics on hand-computed tensors; the splice engine against the naive path and a float64 reference."""

import copy

import pytest
import torch

from saeviz.evals import metrics
from saeviz.evals.measure import naive_downstream, reconstruction_stats
from saeviz.evals.splice import SpliceEngine, next_token_terms


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


def test_streaming_stats_by_hand_and_in_chunks():
    x = torch.tensor([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0], [2.0, 2.0]])
    x_hat = torch.tensor([[3.0, 4.0], [0.0, 1.0], [2.0, 0.0], [1.0, 1.0]])
    f = torch.tensor([[1.0, 0, 0, 0], [0, 2.0, 0, 0], [1.0, 0, 0, 0], [0, 0, 3.0, 0]])
    whole = metrics.reconstruction_metrics(x, x_hat, f)
    stats = metrics.ReconstructionStats(4)
    for i in range(4):
        stats.update(x[i:i + 1], x_hat[i:i + 1], f[i:i + 1])
    chunked = stats.result()
    assert chunked == pytest.approx(whole)
    assert whole["mse"] == pytest.approx((0 + 1 + 1 + 2) / 8)
    assert whole["l2_norm_in"] == pytest.approx((5 + 2 + 1 + 8 ** 0.5) / 4)
    assert whole["l2_ratio"] == pytest.approx((1 + 0.5 + 2 + 0.5) / 4)
    # E||x_hat||^2 / E<x, x_hat>: (25 + 1 + 4 + 2) / (25 + 2 + 2 + 4)
    assert whole["relative_reconstruction_bias"] == pytest.approx(32 / 33)
    assert whole["frac_alive"] == 0.75 and whole["dead_fraction"] == 0.25
    # densities 0.5, 0.25, 0.25, 0: all three live latents fire on more than 10% of tokens
    assert whole["freq_over_10_percent"] == 0.75 and whole["normalized_freq_over_10_percent"] == 1.0
    assert whole["l0"] == 1.0 and whole["l1"] == pytest.approx(7 / 4)


def test_max_cosine_to_others():
    v = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]])
    got = metrics.max_cosine_to_others(v)
    s = 2 ** -0.5
    assert got.tolist() == pytest.approx([s, s, 0.0])


def test_next_token_terms_match_a_float64_softmax():
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(2, 5, 8, generator=gen)
    W_U, b_U = torch.randn(8, 30, generator=gen), torch.randn(30, generator=gen)
    tokens = torch.randint(0, 30, (2, 5), generator=gen)
    clean_h = h + 0.1 * torch.randn(h.shape, generator=gen)
    logp_clean = (clean_h[:, :-1].double() @ W_U.double() + b_U.double()).log_softmax(-1)
    p = logp_clean.exp().float()
    ce, kl = next_token_terms(h, tokens, W_U, b_U, p @ W_U.T, p @ b_U, (p * logp_clean.float()).sum(-1), p.sum(-1))
    logq = (h[:, :-1].double() @ W_U.double() + b_U.double()).log_softmax(-1)
    ref_ce = -logq.gather(-1, tokens[:, 1:, None]).squeeze(-1)
    ref_kl = (logp_clean.exp() * (logp_clean - logq)).sum(-1)
    assert torch.allclose(ce.double(), ref_ce, atol=1e-5) and torch.allclose(kl.double(), ref_kl, atol=1e-5)


class _Scale:
    """Just enough of an SAE for the splice: encode/decode on flat activations."""

    dtype, device = torch.float32, "cpu"

    def __init__(self, scale: float):
        self.scale = scale

    def encode(self, x):
        return x * self.scale

    def decode(self, f):
        return f


@pytest.mark.parametrize("hook", ["blocks.0.hook_mlp_out", "blocks.1.attn.hook_z", "blocks.1.hook_resid_post"])
def test_identity_and_zero_splices(tiny_model, tiny_tokens, hook):
    engine = SpliceEngine(tiny_model, tiny_tokens, batch_size=3)
    identity = engine.evaluate(hook, _Scale(1.0))
    assert identity["ce_loss_with_sae"] == pytest.approx(identity["ce_loss_without_sae"], abs=1e-5)
    assert identity["kl_div_with_sae"] == pytest.approx(0.0, abs=1e-5)
    assert identity["ce_loss_score"] == pytest.approx(1.0, abs=1e-3) and identity["kl_div_score"] == pytest.approx(1.0, abs=1e-3)
    zero = engine.evaluate(hook, _Scale(0.0))
    assert zero["ce_loss_with_sae"] == pytest.approx(zero["ce_loss_with_ablation"], abs=1e-5)
    assert zero["ce_loss_score"] == pytest.approx(0.0, abs=1e-3) and zero["kl_div_with_sae"] > 0


@pytest.mark.parametrize("site_hook", ["blocks.0.hook_mlp_out", "blocks.1.attn.hook_z", "blocks.0.hook_resid_post"])
def test_engine_agrees_with_the_naive_path_and_reuses_the_clean_run(tiny_model, tiny_tokens, make_sae, site_hook):
    d_in = 32
    sae = make_sae("topk", d_in, 64, site_hook)
    naive = naive_downstream(tiny_model, sae, site_hook, tiny_tokens, batch_size=4)
    engine = SpliceEngine(tiny_model, tiny_tokens, batch_size=4)
    fast = engine.evaluate(site_hook, sae)
    for name, value in naive.items():
        assert fast[name] == pytest.approx(value, rel=1e-4, abs=1e-7), name
    passes = engine.forward_passes
    other = copy.deepcopy(sae)
    with torch.no_grad():
        other.W_dec.mul_(0.5)
    engine.evaluate(site_hook, other)
    # a second SAE costs one spliced pass per batch: no clean pass, no zero ablation again
    assert engine.forward_passes - passes == 2


def test_reconstruction_stats_chunks_match_whole(make_sae):
    sae = make_sae("topk", 16, 32, "blocks.0.hook_resid_post")
    x = torch.randn(50, 16, generator=torch.Generator().manual_seed(1))
    assert reconstruction_stats(sae, x, batch_tokens=7) == pytest.approx(reconstruction_stats(sae, x, batch_tokens=1000))


def test_precomputed_reconstructions_give_the_same_splice(tiny_model, tiny_tokens, make_sae):
    from saeviz.model.activations import collect_activations

    hook = "blocks.1.attn.hook_z"
    sae = make_sae("topk", 32, 64, hook)
    engine = SpliceEngine(tiny_model, tiny_tokens, batch_size=3)
    acts = collect_activations(tiny_model, hook, tiny_tokens, batch_size=5)
    _, x_hat = reconstruction_stats(sae, acts, keep_x_hat=True)
    assert engine.evaluate(hook, sae, x_hat) == pytest.approx(engine.evaluate(hook, sae), rel=1e-5)
    with pytest.raises(ValueError, match="ordinary positions"):
        engine.evaluate(hook, sae, x_hat[:-1])


def test_a_soft_capped_model_gets_core_downstream_metrics_the_naive_way(tiny_model, tiny_tokens, make_sae):
    from saeviz.evals.base import EvalInputs
    from saeviz.evals.core import run_core
    from saeviz.model.activations import collect_activations
    from saeviz.specs import EvalSpec

    hook = "blocks.0.hook_resid_post"
    sae = make_sae("topk", 32, 64, hook)
    tiny_model.cfg.output_logits_soft_cap = 2.0  # Gemma-2 caps its logits: the engine's shortcut does not hold
    with pytest.raises(NotImplementedError, match="naive_downstream"):
        SpliceEngine(tiny_model, tiny_tokens)
    inputs = EvalInputs(model=tiny_model, sae=sae, hook=hook, site="resid", layer=0, tokens=lambda split: tiny_tokens,
                        acts=lambda split, n: collect_activations(tiny_model, hook, tiny_tokens[:n]),
                        engine=lambda n, batch: pytest.fail("the splice engine was asked for"))
    got = run_core(inputs, EvalSpec(n_sequences=8, batch_size=4)).set_index("metric")["value"]
    naive = naive_downstream(tiny_model, sae, hook, tiny_tokens[:8], batch_size=4)
    assert got["ce_loss_with_sae"] == pytest.approx(naive["ce_loss_with_sae"])
    assert got["kl_div_with_sae"] == pytest.approx(naive["kl_div_with_sae"]) and naive["kl_div_with_sae"] > 0


@pytest.mark.parametrize("hook", ["blocks.0.hook_mlp_out", "blocks.1.attn.hook_z", "blocks.0.hook_resid_post",
                                  "blocks.1.hook_resid_post", "blocks.1.hook_mlp_out"])
def test_given_reconstructions_run_only_the_blocks_after_the_hook(tiny_model, tiny_tokens, make_sae, hook):
    from saeviz.model.activations import collect_activations
    from saeviz.model.hooks import layer_of

    sae = make_sae("topk", 32, 64, hook)
    acts = collect_activations(tiny_model, hook, tiny_tokens, batch_size=5)
    _, x_hat = reconstruction_stats(sae, acts, keep_x_hat=True)
    naive = naive_downstream(tiny_model, sae, hook, tiny_tokens, batch_size=4)
    engine = SpliceEngine(tiny_model, tiny_tokens, batch_size=4)
    engine.zero_ablation(hook)
    before = engine.blocks_run
    fast = engine.evaluate(hook, sae, x_hat)
    for name, value in naive.items():
        assert fast[name] == pytest.approx(value, rel=1e-4, abs=1e-7), name
    # two batches, each running the blocks after the hook's only (none at all after the last block)
    assert engine.blocks_run - before == 2 * (tiny_model.cfg.n_layers - layer_of(hook) - 1)


def test_blocks_without_the_shortcut_still_splice_through_the_hook(tiny_model, tiny_tokens, make_sae):
    from saeviz.model.activations import collect_activations

    hook = "blocks.0.hook_mlp_out"
    sae = make_sae("topk", 32, 64, hook)
    acts = collect_activations(tiny_model, hook, tiny_tokens, batch_size=5)
    _, x_hat = reconstruction_stats(sae, acts, keep_x_hat=True)
    sequential = SpliceEngine(tiny_model, tiny_tokens, batch_size=4).evaluate(hook, sae, x_hat)
    tiny_model.cfg.parallel_attn_mlp = True  # GPT-J: attention and MLP both read resid_pre, no resid_mid
    engine = SpliceEngine(tiny_model, tiny_tokens, batch_size=4)
    got = engine.evaluate(hook, sae, x_hat)
    assert engine.blocks_run == 2 * 2 * tiny_model.cfg.n_layers  # zero ablation and the SAE, every block, two batches
    assert got["ce_loss_with_sae"] != pytest.approx(sequential["ce_loss_with_sae"], rel=1e-6)  # really another model


def test_the_clean_run_gives_the_model_ce(tiny_model, tiny_tokens):
    from saeviz.model.loss import ce_loss

    engine = SpliceEngine(tiny_model, tiny_tokens, batch_size=3)
    assert engine.model_ce() == pytest.approx(ce_loss(tiny_model, tiny_tokens, batch_size=3), rel=1e-6)


def test_batches_fill_a_gpu_and_keep_the_requested_size_on_the_cpu(tiny_model, tiny_tokens, monkeypatch):
    # the CUDA branch is a size computed from free memory; the device and its free memory are mocked here
    # (no GPU on this machine), and the metrics are checked not to depend on the batch size
    from saeviz.evals import splice

    cfg = copy.copy(tiny_model.cfg)
    assert splice.engine_batch_size(cfg, 128, 16) == 16
    cfg.device = "cuda:0"
    per_seq = 4 * 128 * ((2 * cfg.n_layers + 2) * cfg.d_model + 3 * cfg.d_vocab)
    assert splice.engine_batch_size(cfg, 128, 16, free_bytes=400 * per_seq) == 100
    assert splice.engine_batch_size(cfg, 128, 16, free_bytes=per_seq) == 16  # never below the request
    monkeypatch.setattr(splice, "available_bytes", lambda device: 12 * per_seq)
    assert splice.engine_batch_size(cfg, 128, 1) == 3
    hook = "blocks.1.hook_resid_post"
    small = SpliceEngine(tiny_model, tiny_tokens, batch_size=2).zero_ablation(hook)
    whole = SpliceEngine(tiny_model, tiny_tokens, batch_size=8).zero_ablation(hook)
    assert small == pytest.approx(whole, rel=1e-5)
