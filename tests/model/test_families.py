"""Local checkpoints of every family a researcher is likely to prune load offline and match transformers.

Each test writes a tiny random checkpoint (2 layers, d_model 64) with transformers plus a BPE
tokenizer trained here, loads it through saeviz, and compares the logits with the HF model's after
centring (transformer_lens centres the unembedding). Weights are drawn with a large initializer
range so that attention patterns, sliding windows and softcaps visibly change the logits: a wrong
config field moves them by 0.1-10 (checked when these tests were written), far above the tolerance.
"""

import json

import pytest
import torch
from conftest import tiny_bpe_tokenizer

from saeviz.errors import LoadError
from saeviz.model.families import FAMILIES, ROTARY_CTX_CAP, hooked_config_fields
from saeviz.model.load import hook_sites, load_model, model_summary
from saeviz.specs import ModelSpec

COMMON = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, initializer_range=0.2)


def _configs(vocab: int) -> dict:
    import transformers as T

    common = {**COMMON, "vocab_size": vocab}
    gemma2 = dict(head_dim=16, sliding_window=4, query_pre_attn_scalar=24, attn_logit_softcapping=5.0, final_logit_softcapping=3.0)
    llama3_rope = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                   "high_freq_factor": 4.0, "original_max_position_embeddings": 8}
    return {
        "gpt2": T.GPT2Config(**common, n_positions=64, n_inner=128),  # hidden_size etc. map to n_embd, n_layer, n_head
        "gpt_neox": T.GPTNeoXConfig(**common, max_position_embeddings=64),  # rotary on a quarter of each head
        "gpt_neox_sequential": T.GPTNeoXConfig(**common, max_position_embeddings=64, use_parallel_residual=False),
        "llama": T.LlamaConfig(**common, num_key_value_heads=2),  # grouped-query attention
        "llama3_rope": T.LlamaConfig(**common, rope_parameters=llama3_rope),
        "mistral": T.MistralConfig(**common, num_key_value_heads=2, sliding_window=4),  # window < sequence
        "gemma": T.GemmaConfig(**common, num_key_value_heads=1, head_dim=16),  # multi-query
        "gemma2": T.Gemma2Config(**common, num_key_value_heads=2, **gemma2),
        "qwen2": T.Qwen2Config(**common, num_key_value_heads=2),  # biases on q, k, v
        # what `export-hf` writes: learned positions two rows in, untied unembedding, exact GELU
        "opt": T.OPTConfig(**{k: v for k, v in common.items() if k not in ("intermediate_size", "initializer_range")},
                           ffn_dim=128, max_position_embeddings=64, activation_function="gelu", tie_word_embeddings=False,
                           init_std=0.2),
    }


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_bpe_tokenizer("the pruned model still reads the cat on the mat in the park", 300)


def _write_checkpoint(path, hf_config, tokenizer):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    hf = AutoModelForCausalLM.from_config(hf_config).eval()
    with torch.no_grad():  # norms and biases start at 1 / 0: perturb them so a misplaced one shows
        for name, param in hf.named_parameters():
            if "norm" in name or name.endswith("bias"):
                param.add_(torch.randn_like(param) * 0.1)
    hf.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return hf


@pytest.mark.parametrize("family", list(_configs(300)))
def test_local_checkpoint_matches_transformers(family, tokenizer, tmp_path):
    # the folder's name says llama whatever it holds: saeviz reads config.json, not the name
    path = tmp_path / "my-llama-pruned"
    hf = _write_checkpoint(path, _configs(len(tokenizer))[family], tokenizer)
    model = load_model(ModelSpec(name=str(path), device="cpu"))
    tokens = torch.randint(0, len(tokenizer), (2, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, theirs = model(tokens), hf(tokens).logits
    ours, theirs = ours - ours.mean(-1, keepdim=True), theirs - theirs.mean(-1, keepdim=True)
    assert theirs.abs().max() > 1.0  # logits large enough for the comparison to mean something
    assert torch.allclose(ours, theirs, atol=1e-4), float((ours - theirs).abs().max())
    summary = model_summary(model)
    assert (summary["layers"], summary["d_model"], summary["heads"]) == (2, 64, 4)
    assert {s["width"] for s in hook_sites(model)} == {64}  # attn hook_z: 4 heads x 16 flattened
    assert model.to_string(model.to_tokens(" the cat", prepend_bos=False)[0]) == " the cat"


def test_long_context_is_capped_for_rotary_models():
    import transformers as T

    fields = hooked_config_fields(T.MistralConfig(**COMMON, vocab_size=300))  # 131072 positions
    assert fields["n_ctx"] == ROTARY_CTX_CAP
    assert fields["original_architecture"] == "MistralForCausalLM"


def test_unsupported_family_lists_the_supported_ones(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertForMaskedLM"]}))
    with pytest.raises(LoadError, match="supported model types: gemma, gemma2, gpt2, gpt_neox") as info:
        load_model(ModelSpec(name=str(tmp_path), device="cpu"))
    assert "\n" not in str(info.value)


def test_dropped_biases_and_quantized_checkpoints_are_refused(tmp_path, tokenizer):
    import transformers as T

    with pytest.raises(LoadError, match="attention_bias"):
        hooked_config_fields(T.LlamaConfig(**COMMON, vocab_size=300, attention_bias=True))
    config = T.LlamaConfig(**COMMON, vocab_size=300).to_dict()
    config["quantization_config"] = {"quant_method": "hqq", "nbits": 4}  # refused before any weight is read
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(LoadError, match="'hqq'.*supported are compressed-tensors, gptq, awq"):
        load_model(ModelSpec(name=str(tmp_path), device="cpu"))


def test_every_supported_family_is_loaded_and_compared_above():
    # a family added to FAMILIES without a checkpoint in _configs would ship its converter untried
    assert {c.model_type for c in _configs(300).values()} == set(FAMILIES)
