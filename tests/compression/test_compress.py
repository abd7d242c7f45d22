"""Model compression: pure mask/quantization math on hand-computed tensors, then the pipeline on tiny models."""

import math

import pytest
import torch

from saeviz.compression.math import (
    keep_mask,
    magnitude_global_mask,
    magnitude_mask,
    n_removed,
    quantize_rtn,
    rtn_step,
    wanda_mask,
    wanda_scores,
)
from saeviz.compression.methods import (
    COMPRESSORS,
    UnsupportedModel,
    apply_masks,
    compress_model,
    input_hook_name,
    linear_view,
)
from saeviz.jobs import Cancelled
from saeviz.model.loss import ce_loss, perplexity
from saeviz.specs import PRUNABLE_MATRICES, CompressSpec

T, F = True, False


# --- pure math ----------------------------------------------------------------------------------

def test_wanda_scores_hand_computed():
    W = torch.tensor([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]])
    norm = torch.tensor([2.0, 1.0, 0.5])
    assert torch.equal(wanda_scores(W, norm), torch.tensor([[2.0, 2.0, 1.5], [8.0, 5.0, 3.0]]))


def test_wanda_mask_hand_computed_and_disagrees_with_magnitude():
    W = torch.tensor([[4.0, 1.0, -3.0, 2.0], [1.0, -2.0, 0.5, 3.0]])
    norm = torch.tensor([0.1, 10.0, 1.0, 1.0])
    # scores: row 0 [0.4, 10, 3, 2] -> drop cols 0, 3; row 1 [0.1, 20, 0.5, 3] -> drop cols 0, 2
    assert torch.equal(wanda_mask(W, norm, 0.5), torch.tensor([[F, T, T, F], [F, T, F, T]]))
    # |W| alone: row 0 [4, 1, 3, 2] -> drop cols 1, 3: the large input norm of col 1 saves it under WANDA
    assert torch.equal(magnitude_mask(W, 0.5), torch.tensor([[T, F, T, F], [F, T, F, T]]))


def test_wanda_mask_rejects_norms_of_the_wrong_orientation():
    with pytest.raises(ValueError, match="one norm per input feature"):
        wanda_mask(torch.ones(2, 3), torch.ones(2), 0.5)


def test_ties_drop_the_lower_index_first():
    assert torch.equal(wanda_mask(torch.ones(2, 4), torch.ones(4), 0.5), torch.tensor([[F, F, T, T]] * 2))
    assert torch.equal(keep_mask(torch.ones(1, 8), 0.0, n_m=(2, 4)), torch.tensor([[F, F, T, T, F, F, T, T]]))
    wide = wanda_mask(torch.ones(3, 100), torch.ones(100), 0.5)  # wide enough for an unstable sort to reorder
    assert torch.equal(wide, (torch.arange(100) >= 50).expand(3, 100))


@pytest.mark.parametrize("sparsity, group, expected", [(0.3, 10, 3), (0.5, 3, 1), (0.7, 10, 7), (0.29, 100, 29), (0.0, 5, 0), (1.0, 5, 5)])
def test_n_removed_is_floor_without_float_noise(sparsity, group, expected):
    assert n_removed(sparsity, group) == expected


def test_unstructured_mask_removes_the_same_count_from_every_row_and_only_the_lowest_scores():
    gen = torch.Generator().manual_seed(1)
    W = torch.randn(16, 40, generator=gen)
    norm = torch.rand(40, generator=gen) * 5
    keep = wanda_mask(W, norm, 0.37)
    assert ((~keep).sum(dim=1) == math.floor(0.37 * 40)).all()
    scores = wanda_scores(W, norm)
    for row in range(16):
        assert scores[row][~keep[row]].max() <= scores[row][keep[row]].min()


def test_two_four_hand_computed():
    W = torch.tensor([[1.0, 2.0, 3.0, 4.0, 8.0, 7.0, 6.0, 5.0], [-1.0, 0.0, 5.0, -5.0, 1.0, 1.0, 9.0, 0.5]])
    norm = torch.tensor([4.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    # row 0 scores [4, 2, 3, 4 | 8, 7, 6, 5]; row 1 [4, 0, 5, 5 | 1, 1, 9, 0.5]
    expected = torch.tensor([[T, F, F, T, T, T, F, F], [F, F, T, T, F, T, T, F]])
    assert torch.equal(wanda_mask(W, norm, sparsity=0.9, n_m=(2, 4)), expected)  # n_m overrides sparsity


@pytest.mark.parametrize("n, m", [(2, 4), (4, 8)])
def test_n_m_keeps_exactly_n_highest_in_every_group(n, m):
    gen = torch.Generator().manual_seed(2)
    W = torch.randn(8, 32, generator=gen)
    norm = torch.rand(32, generator=gen)
    keep = wanda_mask(W, norm, 0.5, n_m=(n, m))
    keep_G = keep.reshape(-1, m)
    assert (keep_G.sum(dim=1) == n).all()
    scores_G = wanda_scores(W, norm).reshape(-1, m)
    for g in range(scores_G.shape[0]):
        assert scores_G[g][~keep_G[g]].max() <= scores_G[g][keep_G[g]].min()


def test_n_m_needs_d_in_multiple_of_m():
    with pytest.raises(ValueError, match="multiple of M"):
        wanda_mask(torch.ones(2, 6), torch.ones(6), 0.5, n_m=(2, 4))


def test_magnitude_global_ranks_the_whole_matrix():
    W = torch.tensor([[0.1, 5.0, 4.0], [3.0, -0.2, 0.3]])
    expected = torch.tensor([[F, T, T], [T, F, F]])  # rows lose 1 and 2: only a global ranking does that
    assert torch.equal(magnitude_global_mask(W, 0.5), expected)
    assert not torch.equal(magnitude_mask(W, 0.5), expected)


def test_rtn_symmetric_hand_computed():
    w = torch.tensor([[-7.0, 2.4, 1.0, 0.6]])  # step = 7 / (2^3 - 1) = 1
    assert torch.equal(quantize_rtn(w, bits=4, group_size=0, symmetric=True), torch.tensor([[-7.0, 2.0, 1.0, 1.0]]))


def test_rtn_asymmetric_hand_computed():
    w = torch.tensor([[-1.0, 0.0, 0.4, 2.0]])  # step = 3 / (2^2 - 1) = 1, zero point 1
    assert torch.equal(quantize_rtn(w, bits=2, group_size=0, symmetric=False), torch.tensor([[-1.0, 0.0, 0.0, 2.0]]))


@pytest.mark.parametrize("bits", [8, 4])
def test_rtn_is_exact_on_representable_grids(bits):
    step = 0.03125
    q_max = 2 ** (bits - 1) - 1
    ints = torch.arange(-q_max, q_max + 1, dtype=torch.float32)
    w_sym = (ints * step).reshape(1, -1)
    assert torch.equal(quantize_rtn(w_sym, bits, group_size=0, symmetric=True), w_sym)
    w_asym = ((torch.arange(2**bits, dtype=torch.float32) - 3) * step).reshape(1, -1)
    assert torch.equal(quantize_rtn(w_asym, bits, group_size=0, symmetric=False), w_asym)


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("group_size", [0, 8, 16, 12])  # 12: 40 inputs end in a shorter group
def test_rtn_error_bound_and_groups(bits, symmetric, group_size):
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(6, 40, generator=gen)
    w[0, 3] = 25.0  # an outlier must only coarsen its own group
    q, step = quantize_rtn(w, bits, group_size, symmetric), rtn_step(w, bits, group_size, symmetric)
    assert ((w - q).abs() <= step / 2 * (1 + 1e-6) + 1e-7).all()
    size = group_size or 40
    for row in range(6):
        for start in range(0, 40, size):
            g_w, g_q, g_step = w[row, start:start + size], q[row, start:start + size], step[row, start:start + size]
            assert (g_step == g_step[0]).all()
            expected = g_w.abs().max() / (2 ** (bits - 1) - 1) if symmetric else (g_w.max() - g_w.min()) / (2**bits - 1)
            assert torch.isclose(g_step[0], expected, rtol=1e-6)
            levels = g_q / g_step[0]
            assert torch.allclose(levels, torch.round(levels), atol=1e-4)  # on the integer grid (zero point included)
            assert len(torch.unique(torch.round(levels))) <= 2**bits


def test_rtn_asymmetric_keeps_zero_exact():
    w = torch.tensor([[0.0, 0.37, 1.9, 0.11, -0.05]])
    assert quantize_rtn(w, bits=4, group_size=0, symmetric=False)[0, 0] == 0.0


# --- the pipeline on tiny transformer_lens models ----------------------------------------------

def _perturb_layernorms(model):
    """Random LN scales/biases, so that forgetting to apply them to hook_normalized shows up."""
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln" in name:
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5 if name.endswith(".w") else torch.randn(p.shape, generator=gen))
    return model


def _true_inputs(model, tokens, layer):
    """Inputs of every matrix of ``layer``, computed from the cache without saeviz's hook routing."""
    _, cache = model.run_with_cache(tokens)
    block = model.blocks[layer]
    ln1_x = block.ln1(cache[f"blocks.{layer}.hook_resid_pre"])
    z = cache[f"blocks.{layer}.attn.hook_z"]
    return {
        "W_Q": ln1_x, "W_K": ln1_x, "W_V": ln1_x,
        "W_O": z.reshape(*z.shape[:2], -1),
        "W_in": block.ln2(cache[f"blocks.{layer}.hook_resid_mid"]),
        "W_out": cache[f"blocks.{layer}.mlp.hook_post"],
    }, cache


def _norms(x_BPI):
    return x_BPI.reshape(-1, x_BPI.shape[-1]).to(torch.float64).norm(dim=0)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_linear_views_reproduce_the_forward_pass(tiny_model, tiny_tokens):
    model = _perturb_layernorms(tiny_model)
    inputs, cache = _true_inputs(model, tiny_tokens, 0)
    attn, mlp = model.blocks[0].attn, model.blocks[0].mlp
    outputs = {
        "W_Q": cache["blocks.0.attn.hook_q"] - attn.b_Q, "W_K": cache["blocks.0.attn.hook_k"] - attn.b_K,
        "W_V": cache["blocks.0.attn.hook_v"] - attn.b_V, "W_O": cache["blocks.0.hook_attn_out"] - attn.b_O,
        "W_in": cache["blocks.0.mlp.hook_pre"] - mlp.b_in, "W_out": cache["blocks.0.hook_mlp_out"] - mlp.b_out,
    }
    for matrix in PRUNABLE_MATRICES:
        got = inputs[matrix] @ linear_view(model, 0, matrix).T
        assert torch.allclose(got, outputs[matrix].reshape(got.shape), atol=1e-5), matrix


def test_wanda_norms_come_from_each_matrix_true_input(tiny_model, tiny_tokens):
    model = _perturb_layernorms(tiny_model)
    result = compress_model(model, CompressSpec(method="wanda", n_calibration=8), tiny_tokens)
    inputs, _ = _true_inputs(model, tiny_tokens, 0)
    for matrix in PRUNABLE_MATRICES:
        assert torch.allclose(result.input_norms[(0, matrix)], _norms(inputs[matrix]), rtol=1e-5), matrix
    assert input_hook_name(model, 0, "W_O") == "blocks.0.attn.hook_z"


def test_w_in_orientation_matches_wanda_mask_on_the_transpose(tiny_model, tiny_tokens):
    model = _perturb_layernorms(tiny_model)
    W_in = model.blocks[0].mlp.W_in.detach().clone()  # [d_model, d_mlp] = (d_in, d_out)
    result = compress_model(model, CompressSpec(method="wanda", matrices=("W_in",), n_calibration=8), tiny_tokens)
    inputs, cache = _true_inputs(model, tiny_tokens, 0)
    expected = wanda_mask(W_in.T, _norms(inputs["W_in"]), 0.5).T
    assert torch.equal(result.masks[(0, "W_in")], expected)
    assert torch.equal(result.model.blocks[0].mlp.W_in, W_in * expected)
    assert not torch.equal(expected, magnitude_mask(W_in.T, 0.5).T)
    # hook_normalized before LN's own scale/bias would have given another mask
    assert not torch.equal(expected, wanda_mask(W_in.T, _norms(cache["blocks.0.ln2.hook_normalized"]), 0.5).T)


@pytest.mark.parametrize("matrix", ["W_in", "W_Q"])
def test_sequential_calibration_reads_the_model_pruned_below(tiny_model, tiny_tokens, matrix):
    spec = CompressSpec(method="wanda", n_calibration=8)
    result = compress_model(tiny_model, spec, tiny_tokens)
    layer0 = apply_masks(tiny_model, {k: v for k, v in result.masks.items() if k[0] == 0})
    pruned_below, _ = _true_inputs(layer0, tiny_tokens, 1)
    dense, _ = _true_inputs(tiny_model, tiny_tokens, 1)
    got = result.input_norms[(1, matrix)]
    assert torch.allclose(got, _norms(pruned_below[matrix]), rtol=1e-5)
    assert not torch.allclose(got, _norms(dense[matrix]), rtol=1e-3)
    W = linear_view(tiny_model, 1, matrix)
    assert torch.equal(linear_view(result.model, 1, matrix) != 0, wanda_mask(W, got, 0.5))
    one_shot = compress_model(tiny_model, CompressSpec(method="wanda", n_calibration=8, sequential=False), tiny_tokens)
    assert torch.allclose(one_shot.input_norms[(1, matrix)], _norms(dense[matrix]), rtol=1e-5)


@pytest.mark.parametrize("method", ["wanda", "magnitude", "magnitude_global"])
@pytest.mark.parametrize("sparsity", [0.3, 0.5])
def test_achieved_sparsity_is_exact_for_every_matrix(tiny_model, tiny_tokens, method, sparsity):
    result = compress_model(tiny_model, CompressSpec(method=method, sparsity=sparsity, n_calibration=8), tiny_tokens)
    assert len(result.reports) == 2 * len(PRUNABLE_MATRICES)
    for r in result.reports:
        d_out, d_in = linear_view(tiny_model, r.layer, r.matrix).shape
        expected = d_out * math.floor(sparsity * d_in) if method != "magnitude_global" else math.floor(sparsity * d_out * d_in)
        assert r.n_zero == expected == int((linear_view(result.model, r.layer, r.matrix) == 0).sum())
        assert r.sparsity == expected / (d_out * d_in)


@pytest.mark.parametrize("method", ["wanda", "magnitude"])
def test_two_four_on_the_model(tiny_model, tiny_tokens, method):
    result = compress_model(tiny_model, CompressSpec(method=method, n_m=(2, 4), n_calibration=8), tiny_tokens)
    for r in result.reports:
        keep_G = (linear_view(result.model, r.layer, r.matrix) != 0).reshape(-1, 4)
        assert (keep_G.sum(dim=1) == 2).all() and r.sparsity == 0.5


def test_per_layer_overrides_are_honoured(tiny_model, tiny_tokens):
    spec = CompressSpec(method="wanda", sparsity=0.5, layer_sparsity={1: 0.25}, matrices=("W_in", "W_O"), n_calibration=8)
    result = compress_model(tiny_model, spec, tiny_tokens)
    assert {(r.layer, r.matrix): r.sparsity for r in result.reports} == {
        (0, "W_in"): 0.5, (0, "W_O"): 0.5, (1, "W_in"): 0.25, (1, "W_O"): 0.25,
    }
    assert torch.equal(result.model.blocks[0].attn.W_Q, tiny_model.blocks[0].attn.W_Q)  # not in matrices


@pytest.mark.parametrize("method", sorted(COMPRESSORS))
def test_registry_methods_compress_a_copy(tiny_model, tiny_tokens, method):
    before = _state(tiny_model)
    spec = CompressSpec(method=method, n_calibration=8, bits=4, group_size=8)
    result = compress_model(tiny_model, spec, tiny_tokens)
    assert result.model is not tiny_model
    after = tiny_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    changed = [k for k, v in result.model.state_dict().items() if not torch.equal(v, before[k])]
    assert (changed == []) == (method == "dense")
    assert math.isfinite(ce_loss(result.model, tiny_tokens))


def test_registry_keys():
    # the spec validates method names without importing torch: both lists must stay the same
    from saeviz.specs import COMPRESSION_METHODS

    assert set(COMPRESSORS) == set(COMPRESSION_METHODS) == {"dense", "wanda", "sparsegpt", "magnitude", "magnitude_global", "rtn", "gptq"}


@pytest.mark.parametrize("method", ["wanda", "magnitude", "magnitude_global"])
def test_apply_masks_rebuilds_the_compressed_model(tiny_model, tiny_tokens, method):
    result = compress_model(tiny_model, CompressSpec(method=method, n_calibration=8), tiny_tokens)
    assert set(result.masks) == {(l, m) for l in range(2) for m in PRUNABLE_MATRICES}
    assert all(result.masks[k].shape == getattr(getattr(tiny_model.blocks[k[0]], "mlp" if k[1] in ("W_in", "W_out") else "attn"), k[1]).shape for k in result.masks)
    rebuilt = apply_masks(tiny_model, result.masks)
    expected = result.model.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in rebuilt.state_dict().items())


def test_rtn_writes_quantized_weights_and_reports_their_error(tiny_model, tiny_tokens):
    spec = CompressSpec(method="rtn", bits=4, group_size=8, symmetric=False)
    result = compress_model(tiny_model, spec, tiny_tokens)
    W = linear_view(tiny_model, 1, "W_O")
    q = quantize_rtn(W, 4, 8, symmetric=False)
    assert torch.equal(linear_view(result.model, 1, "W_O"), q)
    assert result.report(1, "W_O").quant_error == pytest.approx((W - q).abs().double().mean().item())
    assert result.masks == {}


def test_cancellation_raises_and_leaves_the_caller_model_alone(tiny_model, tiny_tokens):
    before = _state(tiny_model)
    calls = []

    def stop_after_layer_0(done, total, message):
        calls.append((done, total))
        return done < 1

    with pytest.raises(Cancelled):
        compress_model(tiny_model, CompressSpec(method="wanda", n_calibration=8), tiny_tokens, progress=stop_after_layer_0)
    assert calls == [(0, 2), (1, 2)]
    assert all(torch.equal(v, before[k]) for k, v in tiny_model.state_dict().items())
    seen = []
    compress_model(tiny_model, CompressSpec(method="magnitude"), progress=lambda *a: seen.append(a))  # None = go on
    assert [a[:2] for a in seen] == [(0, 2), (1, 2), (2, 2)]


def test_calibration_needs_enough_sequences(tiny_model, tiny_tokens):
    with pytest.raises(ValueError, match="calibration sequences"):
        compress_model(tiny_model, CompressSpec(method="wanda"), tiny_tokens)  # 128 asked, 8 given


def test_ce_loss_is_the_token_mean_whatever_the_batching(tiny_model, tiny_tokens):
    reference = tiny_model(tiny_tokens, return_type="loss").item()
    assert ce_loss(tiny_model, tiny_tokens, batch_size=3) == pytest.approx(reference, rel=1e-5)
    assert perplexity(tiny_model, tiny_tokens, batch_size=8) == pytest.approx(math.exp(reference), rel=1e-5)


def _tiny(**overrides):
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = dict(n_layers=2, d_model=32, d_head=8, n_heads=4, d_mlp=64, d_vocab=100, n_ctx=16, act_fn="gelu",
               normalization_type="LN", seed=0, device="cpu")
    return HookedTransformer(HookedTransformerConfig(**{**cfg, **overrides})).eval()


def test_grouped_query_attention_prunes_the_stored_kv_weights(tiny_tokens):
    model = _tiny(n_key_value_heads=2, normalization_type="RMS", act_fn="silu", gated_mlp=True)
    result = compress_model(model, CompressSpec(method="wanda", n_calibration=8), tiny_tokens)
    assert result.masks[(0, "W_K")].shape == model.blocks[0].attn._W_K.shape == (2, 32, 8)
    assert result.report(1, "W_V").n_zero == 2 * 8 * 16
    assert math.isfinite(ce_loss(result.model, tiny_tokens))


def test_models_without_layernorm_calibrate_on_the_residual(tiny_tokens):
    model = _tiny(normalization_type=None)
    assert input_hook_name(model, 1, "W_in") == "blocks.1.hook_resid_mid"
    result = compress_model(model, CompressSpec(method="wanda", n_calibration=8, sequential=False), tiny_tokens)
    _, cache = model.run_with_cache(tiny_tokens)
    assert torch.allclose(result.input_norms[(1, "W_in")], _norms(cache["blocks.1.hook_resid_mid"]), rtol=1e-5)


def test_attention_only_models_get_a_clear_error(tiny_tokens):
    with pytest.raises(UnsupportedModel, match="attention-only"):
        compress_model(_tiny(attn_only=True), CompressSpec(method="magnitude"), tiny_tokens)
    result = compress_model(_tiny(attn_only=True), CompressSpec(method="magnitude", matrices=("W_Q", "W_O")), tiny_tokens)
    assert result.overall_sparsity == 0.5


def test_magnitude_global_refuses_n_m(tiny_model):
    with pytest.raises(ValueError, match="no N:M form"):
        compress_model(tiny_model, CompressSpec(method="magnitude_global", n_m=(2, 4)))


def test_calibration_batching_does_not_change_the_result(tiny_model, tiny_tokens):
    spec = CompressSpec(method="wanda", n_calibration=8)
    whole, batched = (compress_model(tiny_model, spec, tiny_tokens, batch_size=b) for b in (16, 3))
    for key, norm in whole.input_norms.items():
        assert torch.allclose(batched.input_norms[key], norm, rtol=1e-6), key
        assert torch.equal(batched.masks[key], whole.masks[key]), key


def test_layer_overrides_beyond_the_model_are_refused(tiny_model):
    with pytest.raises(ValueError, match="model has 2 layers"):
        compress_model(tiny_model, CompressSpec(method="magnitude", layer_sparsity={2: 0.1}))


def _gated_tiny():
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(n_layers=2, d_model=32, d_head=8, n_heads=4, d_mlp=64, d_vocab=100, n_ctx=16,
                                  act_fn="silu", normalization_type="RMS", gated_mlp=True, positional_embedding_type="rotary",
                                  seed=0, device="cpu")
    return HookedTransformer(cfg).eval()


@pytest.mark.parametrize("method", ["wanda", "sparsegpt", "rtn"])
def test_a_gated_mlps_gate_is_compressed_with_w_in(tiny_tokens, method):
    # Gemma and Llama MLPs have two input projections; "W_in" stands for both, on the same input
    model = _gated_tiny()
    spec = CompressSpec(method=method, sparsity=0.5, n_calibration=8) if method != "rtn" else CompressSpec(method="rtn", bits=4)
    result = compress_model(model, spec, tiny_tokens)
    rows = {(r.layer, r.matrix): r for r in result.reports}
    assert {m for _, m in rows} == {*PRUNABLE_MATRICES, "W_gate"}
    gate = result.model.blocks[1].mlp.W_gate
    if method == "rtn":
        assert rows[1, "W_gate"].quant_error > 0 and not torch.equal(gate, model.blocks[1].mlp.W_gate)
    else:
        assert abs(float((gate == 0).float().mean()) - 0.5) < 1e-6
        assert (1, "W_gate") in (result.weights if method == "sparsegpt" else result.masks)


def test_gated_masks_cached_without_the_gate_are_computed_again(tmp_path, tiny_tokens):
    from saeviz.pipeline.compressed import compressed_model
    from saeviz.store.db import Store

    model, store = _gated_tiny(), Store(tmp_path)
    spec = CompressSpec(method="wanda", sparsity=0.5, n_calibration=8)
    first = compressed_model(model, spec, "k", store, lambda: tiny_tokens, "tiny")
    stored = store.get_tensors("model_masks", "k")
    assert "0.W_gate" in stored
    store.put_tensors("model_masks", "k", {k: v for k, v in stored.items() if not k.endswith("W_gate")})  # an older saeviz's
    again = compressed_model(model, spec, "k", store, lambda: tiny_tokens, "tiny")
    assert torch.equal(again.blocks[0].mlp.W_gate, first.blocks[0].mlp.W_gate)
    assert "0.W_gate" in store.get_tensors("model_masks", "k")
