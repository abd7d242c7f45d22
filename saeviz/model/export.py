"""Writing a transformer_lens GPT-2-style model as a Hugging Face checkpoint (config, safetensors,
tokenizer) that transformers, llm-compressor and saeviz load.

The architecture written is OPT: the one transformers family with GPT-2's block (pre-LayerNorm, learned
absolute positions, biases on every projection, a free activation) whose projections are nn.Linear,
which llm-compressor's modifiers need (GPT-2's Conv1D is transposed and is not targeted).
What OPT's format cannot hold is kept beside it, in the same safetensors file: OPT has no
unembedding bias, so ``lm_head.bias`` (transformer_lens' b_U) is written as an extra tensor
that transformers ignores (its logits then lack b_U, which no layer's input depends on) and saeviz
reads back. ``config.json`` records under ``saeviz`` that the weights are transformer_lens' own,
unprocessed (no LayerNorm folding or centring), so that saeviz loads them back as they were and SAEs
trained on the original read the same activations.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from saeviz.errors import LoadError

EXPORT_MARK = "saeviz"  # config.json key of saeviz's own exports
UNEMBED_BIAS = "lm_head.bias"


def _check_exportable(cfg) -> None:
    problems = []
    if cfg.normalization_type != "LN":
        problems.append(f"normalization {cfg.normalization_type} (GPT-2 has LayerNorm with weights; "
                        "a model loaded with fold_ln cannot be written back)")
    if cfg.positional_embedding_type != "standard":
        problems.append(f"{cfg.positional_embedding_type} positions (GPT-2 learns absolute ones)")
    if cfg.act_fn not in ("gelu", "gelu_new", "relu", "gelu_fast", "silu"):
        problems.append(f"activation {cfg.act_fn}")
    if cfg.parallel_attn_mlp or cfg.gated_mlp or cfg.n_key_value_heads or cfg.attn_only:
        problems.append("a block layout other than GPT-2's")
    if cfg.d_head * cfg.n_heads != cfg.d_model:
        problems.append(f"n_heads x d_head = {cfg.n_heads * cfg.d_head} != d_model {cfg.d_model}")
    if problems:
        raise LoadError(f"{cfg.model_name} cannot be written as a Hugging Face (OPT) checkpoint: {'; '.join(problems)}.")


OPT_LINEARS = {"W_Q": "self_attn.q_proj", "W_K": "self_attn.k_proj", "W_V": "self_attn.v_proj",
               "W_O": "self_attn.out_proj", "W_in": "fc1", "W_out": "fc2"}
OPT_POSITION_OFFSET = 2  # OPT's position table starts two rows in (a fairseq legacy)


def opt_linear_name(layer: int, matrix: str) -> str:
    """The OPT weight holding transformer_lens' ``matrix`` of block ``layer`` (nn.Linear, (d_out, d_in))."""
    return f"model.decoder.layers.{layer}.{OPT_LINEARS[matrix]}.weight"


def opt_state_dict(model) -> dict[str, torch.Tensor]:
    """transformer_lens weights under transformers' OPT names (nn.Linear weights are (d_out, d_in))."""
    cfg = model.cfg
    _check_exportable(cfg)
    sd = {k: v.detach().cpu().to(torch.float32).contiguous() for k, v in model.state_dict().items()
          if v.is_floating_point()}
    d, h, e = cfg.d_model, cfg.n_heads, cfg.d_head
    pos = torch.cat([torch.zeros(OPT_POSITION_OFFSET, d), sd["pos_embed.W_pos"]])
    dec = "model.decoder."
    out = {dec + "embed_tokens.weight": sd["embed.W_E"], dec + "embed_positions.weight": pos,
           dec + "final_layer_norm.weight": sd["ln_final.w"], dec + "final_layer_norm.bias": sd["ln_final.b"],
           "lm_head.weight": sd["unembed.W_U"].T.contiguous(), UNEMBED_BIAS: sd["unembed.b_U"]}
    for layer in range(cfg.n_layers):
        p, q = f"blocks.{layer}.", f"{dec}layers.{layer}."
        for x in "QKV":
            # W_Q [h, d, e] -> rows h*e + e' of q_proj (d_out = h*e, d_in = d)
            out[q + f"self_attn.{x.lower()}_proj.weight"] = sd[p + f"attn.W_{x}"].permute(0, 2, 1).reshape(h * e, d).contiguous()
            out[q + f"self_attn.{x.lower()}_proj.bias"] = sd[p + f"attn.b_{x}"].reshape(-1)
        out[q + "self_attn.out_proj.weight"] = sd[p + "attn.W_O"].reshape(h * e, d).T.contiguous()
        out[q + "self_attn.out_proj.bias"] = sd[p + "attn.b_O"]
        out[q + "fc1.weight"], out[q + "fc1.bias"] = sd[p + "mlp.W_in"].T.contiguous(), sd[p + "mlp.b_in"]
        out[q + "fc2.weight"], out[q + "fc2.bias"] = sd[p + "mlp.W_out"].T.contiguous(), sd[p + "mlp.b_out"]
        for ln, hf in (("ln1", "self_attn_layer_norm"), ("ln2", "final_layer_norm")):
            out[q + f"{hf}.weight"], out[q + f"{hf}.bias"] = sd[p + f"{ln}.w"], sd[p + f"{ln}.b"]
    return out


def opt_config(model, variant: str) -> dict:
    cfg = model.cfg
    tok = model.tokenizer
    return {
        "architectures": ["OPTForCausalLM"], "model_type": "opt",
        "vocab_size": cfg.d_vocab, "max_position_embeddings": cfg.n_ctx, "hidden_size": cfg.d_model,
        "word_embed_proj_dim": cfg.d_model, "num_hidden_layers": cfg.n_layers, "num_attention_heads": cfg.n_heads,
        "ffn_dim": cfg.d_mlp, "activation_function": cfg.act_fn, "do_layer_norm_before": True,
        "_remove_final_layer_norm": False, "enable_bias": True, "layer_norm_elementwise_affine": True,
        "dropout": 0.0, "attention_dropout": 0.0, "layerdrop": 0.0, "tie_word_embeddings": False,
        "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id,
        "torch_dtype": "float32",
        EXPORT_MARK: {"model_name": cfg.model_name, "variant": variant, "weights": "transformer_lens, unprocessed",
                      "extra_tensors": [UNEMBED_BIAS]},
    }


def export_hf(model, out_dir: Path, variant: str = "dense") -> Path:
    """Write ``model`` (transformer_lens, GPT-2 layout, unprocessed) as a Hugging Face OPT checkpoint in ``out_dir``."""
    # lazy: safetensors loads only when a model is written
    from safetensors.torch import save_file

    if model.tokenizer is None:
        raise LoadError("The model has no tokenizer to write next to its weights.")
    state = opt_state_dict(model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "config.json").write_text(json.dumps(opt_config(model, variant), indent=1) + "\n")
    model.tokenizer.save_pretrained(str(out_dir))
    return out_dir


def saeviz_export(hf_config) -> dict | None:
    """The ``saeviz`` record of a checkpoint written by ``export_hf`` (kept by tools that re-save the config)."""
    mark = getattr(hf_config, EXPORT_MARK, None)
    return mark if isinstance(mark, dict) else None
