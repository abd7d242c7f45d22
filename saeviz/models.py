"""Loading language models through transformer_lens: the embedded default, hub names, local checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from saeviz.device import resolve_device, str_to_dtype
from saeviz.errors import OFFLINE_HINT, LoadError
from saeviz.hub import hub_reachable, repo_cached
from saeviz.specs import SITE_HOOKS, ModelSpec


def load_model(spec: ModelSpec):
    """The HookedTransformer a spec names, in eval mode, on the spec's device."""
    device = resolve_device(spec.device)
    dtype = str_to_dtype(spec.dtype)
    if spec.is_embedded:
        model = _load_embedded(device)
    elif spec.is_local_dir:
        model = load_local_checkpoint(Path(spec.name).expanduser(), device=device, dtype=dtype)
    elif _looks_like_path(spec.name):
        raise LoadError(f"Model directory {spec.name!r} does not exist: check the path, or use 'embedded'.")
    else:
        model = _load_hub(spec.name, device=device, dtype=dtype)
    model.eval()
    return model.to(dtype) if model.cfg.dtype != dtype else model


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.endswith("/")


def _load_embedded(device: str):
    from saeviz import embedded

    if not embedded.is_built():
        raise LoadError(
            "The embedded default model is missing from saeviz/embedded/assets: "
            "run `python -m saeviz build-embedded` (or restore the files with git checkout)."
        )
    return embedded.load_model(device=device)


def _load_hub(name: str, device: str, dtype: torch.dtype):
    from transformer_lens import HookedTransformer
    from transformer_lens.loading_from_pretrained import get_official_model_name

    try:
        official = get_official_model_name(name)
    except ValueError:
        raise LoadError(
            f"{name!r} is neither a transformer_lens model name (e.g. gpt2-small, gemma-2-2b, "
            "pythia-70m-deduped) nor an existing checkpoint directory, nor 'embedded'."
        ) from None
    if not hub_reachable() and not repo_cached(official):
        raise LoadError(f"Model {name!r} needs the Hugging Face hub, which cannot be reached from here. {OFFLINE_HINT}")
    try:
        return HookedTransformer.from_pretrained(name, device=device, dtype=dtype)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LoadError(f"Could not fetch model {name!r} from the Hugging Face hub ({first}). {OFFLINE_HINT}") from None


def _gpt2_config(hf: dict) -> dict:
    # transformer_lens' own GPT-2 branch reads `n_ctx`, which transformers 5 configs no longer carry.
    return {
        "d_model": hf["n_embd"],
        "d_head": hf["n_embd"] // hf["n_head"],
        "n_heads": hf["n_head"],
        "d_mlp": hf.get("n_inner") or 4 * hf["n_embd"],
        "n_layers": hf["n_layer"],
        "n_ctx": hf.get("n_ctx") or hf["n_positions"],
        "eps": hf.get("layer_norm_epsilon", 1e-5),
        "d_vocab": hf["vocab_size"],
        "act_fn": hf.get("activation_function", "gelu_new"),
        "use_attn_scale": hf.get("scale_attn_weights", True),
        "scale_attn_by_inverse_layer_idx": hf.get("scale_attn_by_inverse_layer_idx", False),
        "normalization_type": "LN",
        "original_architecture": "GPT2LMHeadModel",
    }


# model_type -> HookedTransformerConfig fields; other families go through transformer_lens' converter.
LOCAL_CONFIG_BUILDERS = {"gpt2": _gpt2_config}


def _local_config_dict(path: Path) -> dict:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise LoadError(f"{path} has no config.json: point --model at a Hugging Face checkpoint directory (config.json + weights).")
    hf = json.loads(config_file.read_text())
    builder = LOCAL_CONFIG_BUILDERS.get(hf.get("model_type", ""))
    if builder is not None:
        return builder(hf)
    from transformer_lens.loading_from_pretrained import convert_hf_model_config

    try:
        return convert_hf_model_config(str(path))
    except Exception as exc:  # transformer_lens raises bare NotImplementedError/KeyError for unknown families
        raise LoadError(
            f"transformer_lens cannot convert the {hf.get('model_type', 'unknown')!r} checkpoint in {path} ({exc}); "
            f"families saeviz converts itself: {sorted(LOCAL_CONFIG_BUILDERS)}."
        ) from None


def load_local_checkpoint(path: Path, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """A local Hugging Face checkpoint (e.g. pruned by another tool) as a HookedTransformer, offline."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformer_lens.loading_from_pretrained import get_pretrained_state_dict
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg_dict = _local_config_dict(path)
    cfg_dict.update(model_name=path.name, init_weights=False, device=device, dtype=dtype)
    if cfg_dict.get("normalization_type") in ("LN", "LNPre"):
        cfg_dict["normalization_type"] = "LNPre"  # LayerNorm weights are folded in below
    cfg = HookedTransformerConfig(**cfg_dict)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise LoadError(f"No usable tokenizer in {path} ({exc}): save the tokenizer next to the weights (tokenizer.save_pretrained).") from None
    hf_model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, local_files_only=True)
    state = get_pretrained_state_dict(str(path), cfg, hf_model=hf_model, dtype=dtype)
    model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
    model.load_and_process_state_dict(
        state, fold_ln=cfg.normalization_type == "LNPre", center_writing_weights=True, center_unembed=True
    )
    return model.to(device)


def hook_width(model, hook_name: str) -> int:
    """Width of the activation at a hook, with attention heads flattened (hook_z: n_heads * d_head)."""
    from saeviz.activations import hook_activations

    if hook_name not in model.hook_dict:
        raise KeyError(hook_name)
    tokens = torch.zeros((1, 2), dtype=torch.long)
    return int(hook_activations(model, hook_name, tokens).shape[-1])


def model_summary(model) -> dict:
    cfg = model.cfg
    return {
        "name": cfg.model_name,
        "layers": cfg.n_layers,
        "d_model": cfg.d_model,
        "heads": cfg.n_heads,
        "d_head": cfg.d_head,
        "d_mlp": cfg.d_mlp,
        "d_vocab": cfg.d_vocab,
        "n_ctx": cfg.n_ctx,
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(cfg.device),
        "dtype": str(cfg.dtype).replace("torch.", ""),
    }


def hook_sites(model) -> list[dict]:
    """The paper's three sites for every layer, with the activation width at each."""
    widths = {site: hook_width(model, SITE_HOOKS[site].format(layer=0)) for site in SITE_HOOKS}
    return [
        {"layer": layer, "site": site, "hook": SITE_HOOKS[site].format(layer=layer), "width": widths[site]}
        for layer in range(model.cfg.n_layers)
        for site in SITE_HOOKS
    ]
