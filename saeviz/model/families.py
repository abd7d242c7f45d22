"""Per-family recipes that turn a local Hugging Face checkpoint into a HookedTransformer, offline.

transformer_lens' own ``convert_hf_model_config`` picks the family from the *name* (a folder called
``my-llama-pruned`` is read as Llama whatever it holds), hard-codes Gemma's shapes by hub name, and
reads fields that transformers 5 no longer carries. saeviz instead reads the checkpoint's own config
(``AutoConfig``, so missing fields take transformers' defaults) and reuses transformer_lens' weight
converters, which work on any loaded HF model of their family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from saeviz.errors import LoadError

# transformer_lens allocates an n_ctx x n_ctx attention mask per layer: a 128k context would take
# gigabytes for nothing (SAEs are trained on contexts of at most a few thousand tokens). Rotary
# models have no positional weights, so capping n_ctx changes no weight.
ROTARY_CTX_CAP = 2048


def _get(c, name: str, default=None):
    value = getattr(c, name, None)
    return default if value is None else value


def _rope(c) -> dict:
    """rope_theta and scaling: a top-level field in transformers 4, ``rope_parameters`` in 5."""
    params = dict(_get(c, "rope_parameters", None) or _get(c, "rope_scaling", None) or {})
    theta = _get(c, "rope_theta", None) or params.get("rope_theta", 10000.0)
    return {"theta": theta, "type": (params.get("rope_type") or params.get("type") or "default").lower(), **params}


def _rope_fields(c, d_head: int) -> dict:
    rope = _rope(c)
    fields = {"positional_embedding_type": "rotary", "rotary_base": rope["theta"], "rotary_adjacent_pairs": False,
              "rotary_dim": round(rope.get("partial_rotary_factor", 1.0) * d_head)}
    if rope["type"] == "llama3":
        fields.update(use_NTK_by_parts_rope=True, NTK_by_parts_factor=rope.get("factor", 1.0),
                      NTK_original_ctx_len=rope.get("original_max_position_embeddings", c.max_position_embeddings),
                      NTK_by_parts_low_freq_factor=rope.get("low_freq_factor", 1.0),
                      NTK_by_parts_high_freq_factor=rope.get("high_freq_factor", 4.0))
    elif rope["type"] != "default":
        raise LoadError(f"The checkpoint's rotary scaling {rope['type']!r} is not supported by transformer_lens: "
                        "use a checkpoint with default (or llama3) rope scaling.")
    return fields


def _decoder_fields(c) -> dict:
    """Fields shared by the Llama-like decoders (Llama, Mistral, Gemma, Qwen2): RMSNorm, gated MLP."""
    d_head = _get(c, "head_dim") or c.hidden_size // c.num_attention_heads
    n_kv = _get(c, "num_key_value_heads", c.num_attention_heads)
    return {
        "d_model": c.hidden_size, "d_head": d_head, "n_heads": c.num_attention_heads, "d_mlp": c.intermediate_size,
        "n_layers": c.num_hidden_layers, "n_ctx": min(c.max_position_embeddings, ROTARY_CTX_CAP),
        "eps": c.rms_norm_eps, "d_vocab": c.vocab_size, "act_fn": _get(c, "hidden_activation") or c.hidden_act,
        "normalization_type": "RMS", "final_rms": True, "gated_mlp": True,
        # transformer_lens' grouped-query attention expects None when every head has its own K/V
        "n_key_value_heads": n_kv if n_kv != c.num_attention_heads else None,
        **_rope_fields(c, d_head),
    }


def _gpt2(c) -> dict:
    # transformer_lens' own GPT-2 branch reads `n_ctx`, which transformers 5 configs no longer carry.
    return {
        "d_model": c.n_embd, "d_head": c.n_embd // c.n_head, "n_heads": c.n_head,
        "d_mlp": _get(c, "n_inner") or 4 * c.n_embd, "n_layers": c.n_layer, "n_ctx": c.n_positions,
        "eps": c.layer_norm_epsilon, "d_vocab": c.vocab_size, "act_fn": c.activation_function,
        "use_attn_scale": c.scale_attn_weights, "scale_attn_by_inverse_layer_idx": c.scale_attn_by_inverse_layer_idx,
        "normalization_type": "LN",
    }


def _opt(c) -> dict:
    if not _get(c, "do_layer_norm_before", True) or _get(c, "word_embed_proj_dim", c.hidden_size) != c.hidden_size:
        raise LoadError("This OPT checkpoint normalizes after its blocks or projects its embeddings (OPT-350m's layout), "
                        "which transformer_lens' converter does not handle: use another OPT size.")
    return {
        "d_model": c.hidden_size, "d_head": c.hidden_size // c.num_attention_heads, "n_heads": c.num_attention_heads,
        "d_mlp": c.ffn_dim, "n_layers": c.num_hidden_layers, "n_ctx": c.max_position_embeddings, "eps": 1e-5,
        "d_vocab": c.vocab_size, "act_fn": c.activation_function, "normalization_type": "LN",
        "positional_embedding_type": "standard",
    }


def _neox(c) -> dict:
    d_head = c.hidden_size // c.num_attention_heads
    rope = _rope(c)
    partial = _get(c, "rotary_pct") or rope.get("partial_rotary_factor", 1.0)
    return {
        "d_model": c.hidden_size, "d_head": d_head, "n_heads": c.num_attention_heads, "d_mlp": c.intermediate_size,
        "n_layers": c.num_hidden_layers, "n_ctx": min(c.max_position_embeddings, ROTARY_CTX_CAP),
        "eps": c.layer_norm_eps, "d_vocab": c.vocab_size, "act_fn": c.hidden_act, "normalization_type": "LN",
        "parallel_attn_mlp": _get(c, "use_parallel_residual", True), "positional_embedding_type": "rotary",
        "rotary_dim": round(partial * d_head), "rotary_base": rope["theta"], "rotary_adjacent_pairs": False,
        "default_prepend_bos": False,
    }


def _llama(c) -> dict:
    return _decoder_fields(c)


def _local_attention(c, layer_types: list[str] | None) -> dict:
    """Sliding-window layers as transformer_lens' attn_types ('local'/'global')."""
    window = _get(c, "sliding_window")
    if not window:
        return {}
    types = layer_types or ["sliding_attention"] * c.num_hidden_layers
    return {"use_local_attn": True, "window_size": window,
            "attn_types": ["local" if t == "sliding_attention" else "global" for t in types]}


def _mistral(c) -> dict:
    return {**_decoder_fields(c), **_local_attention(c, _get(c, "layer_types"))}


def _gemma(c) -> dict:
    return {**_decoder_fields(c), "use_attn_scale": True}


def _gemma2(c) -> dict:
    fields = _gemma(c)
    # HF makes the even layers sliding when a config predates `layer_types`
    default_types = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(c.num_hidden_layers)]
    fields.update(_local_attention(c, _get(c, "layer_types") or default_types))
    fields.update(use_normalization_before_and_after=True, attn_scale=float(c.query_pre_attn_scalar) ** 0.5,
                  attn_scores_soft_cap=_get(c, "attn_logit_softcapping", -1.0),
                  output_logits_soft_cap=_get(c, "final_logit_softcapping", -1.0))
    return fields


def _qwen2(c) -> dict:
    if _get(c, "use_sliding_window", False):
        raise LoadError("This Qwen2 checkpoint uses sliding-window attention, which transformer_lens does not "
                        "convert: use a checkpoint with use_sliding_window=false (all Qwen2/2.5 releases).")
    return {**_decoder_fields(c), "use_attn_scale": True, "default_prepend_bos": False}


@dataclass(frozen=True)
class Family:
    """How one Hugging Face model family becomes a HookedTransformer."""

    architecture: str
    """HF architecture name; transformer_lens keys its per-family behaviour on it (original_architecture)."""
    config: Callable
    """HF config object -> HookedTransformerConfig fields."""
    converter: str
    """Name of the weight converter in transformer_lens.pretrained.weight_conversions."""
    unsupported_flags: tuple[str, ...] = ()
    """HF config flags that must be false: the converter ignores those weights (e.g. Llama's attention_bias)."""


FAMILIES: dict[str, Family] = {
    "gpt2": Family("GPT2LMHeadModel", _gpt2, "convert_gpt2_weights"),
    "opt": Family("OPTForCausalLM", _opt, "convert_opt_weights"),
    "gpt_neox": Family("GPTNeoXForCausalLM", _neox, "convert_neox_weights"),
    "llama": Family("LlamaForCausalLM", _llama, "convert_llama_weights", unsupported_flags=("attention_bias", "mlp_bias")),
    "mistral": Family("MistralForCausalLM", _mistral, "convert_mistral_weights"),
    "gemma": Family("GemmaForCausalLM", _gemma, "convert_gemma_weights", unsupported_flags=("attention_bias",)),
    "gemma2": Family("Gemma2ForCausalLM", _gemma2, "convert_gemma_weights", unsupported_flags=("attention_bias",)),
    "qwen2": Family("Qwen2ForCausalLM", _qwen2, "convert_qwen2_weights"),
}


def family_of(hf_config) -> Family:
    """The Family for an HF config, or a LoadError that lists the families saeviz converts."""
    model_type = getattr(hf_config, "model_type", "") or ""
    family = FAMILIES.get(model_type)
    if family is None:
        raise LoadError(f"saeviz cannot convert {model_type or 'unknown'!r} checkpoints; supported model types: "
                        f"{', '.join(sorted(FAMILIES))} (save the model with one of these architectures).")
    set_flags = [flag for flag in family.unsupported_flags if _get(hf_config, flag, False)]
    if set_flags:
        raise LoadError(f"This {model_type} checkpoint sets {', '.join(set_flags)}, whose weights transformer_lens' "
                        "converter drops: use a checkpoint without them.")
    return family


def hooked_config_fields(hf_config) -> dict:
    """HookedTransformerConfig fields (shape, norms, attention, rotary) of an HF config of a known family."""
    family = family_of(hf_config)
    return {**family.config(hf_config), "original_architecture": family.architecture}


def convert_weights(hf_model, cfg) -> dict:
    """transformer_lens state dict of a loaded HF model, through the family's own converter."""
    # lazy: transformer_lens takes seconds to import
    from transformer_lens.pretrained import weight_conversions

    family = family_of(hf_model.config)
    return getattr(weight_conversions, family.converter)(hf_model, cfg)


def processing_flags(cfg) -> dict:
    """Which of transformer_lens' weight processings are exact for this config (as from_pretrained decides)."""
    softcap = (cfg.output_logits_soft_cap or -1.0) > 0
    return {"fold_ln": True, "center_writing_weights": True,
            # softcapping is not invariant to adding a constant to every logit
            "center_unembed": not softcap}
