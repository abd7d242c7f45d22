"""Memory estimates, checked before a large request starts instead of failing (or swapping) half-way.

Estimates are deliberately simple products of the shapes involved; ``ensure_fits`` compares one
with the memory free now and refuses with a sentence that says how much is needed, how much is
free, and what to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from saeviz.errors import ResourceError

FLOAT32_BYTES = 4
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}

# Loading holds the HF model, the converted state dict (einops rearranges and weight folding make
# copies) and the HookedTransformer at once: about three copies of the weights at the peak.
MODEL_LOAD_COPIES = 3

# Memory reported free is not all usable (allocator slack, other threads, the OS' file cache
# shrinking late); refuse above this share of it.
USABLE_SHARE = 0.9


def dtype_bytes(dtype) -> int:
    """Bytes per element of a torch dtype or its name ('float32', torch.bfloat16, ...)."""
    name = str(dtype).replace("torch.", "")
    if name not in DTYPE_BYTES:
        raise ValueError(f"dtype {dtype!r} not understood: use float32, float16 or bfloat16.")
    return DTYPE_BYTES[name]


def estimate_activation_cache_bytes(n_tokens: int, width: int, bytes_per_value: int = FLOAT32_BYTES) -> int:
    """An [n_tokens x width] activation cache (float32 unless told)."""
    return int(n_tokens) * int(width) * bytes_per_value


def estimate_latent_bytes(n_tokens: int, d_sae: int, bytes_per_value: int = FLOAT32_BYTES) -> int:
    """An [n_tokens x d_sae] matrix of SAE latents (dense float32 unless told)."""
    return int(n_tokens) * int(d_sae) * bytes_per_value


def _field(cfg, name: str, default=None):
    value = cfg.get(name, default) if isinstance(cfg, Mapping) else getattr(cfg, name, default)
    return default if value is None else value


def transformer_parameters(cfg) -> int:
    """Parameters of a HookedTransformer of this config (a HookedTransformerConfig or its fields),
    with its norms unfolded: embeddings, attention with grouped K/V, (gated) MLP, norms, unembedding."""
    d_model, n_heads, d_head = cfg_ints(cfg, "d_model", "n_heads", "d_head")
    n_layers, d_vocab = cfg_ints(cfg, "n_layers", "d_vocab")
    d_mlp = int(_field(cfg, "d_mlp", 4 * d_model))
    n_kv = int(_field(cfg, "n_key_value_heads", n_heads))
    norm = _field(cfg, "normalization_type", "LN")
    norm_params = {"LN": 2 * d_model, "RMS": d_model}.get(norm, 0)  # LNPre/RMSPre have none
    attn = (n_heads + 2 * n_kv) * d_head * (d_model + 1) + n_heads * d_head * d_model + d_model
    mlp = d_model * d_mlp * (3 if _field(cfg, "gated_mlp", False) else 2) + d_mlp + d_model
    norms = norm_params * (4 if _field(cfg, "use_normalization_before_and_after", False) else 2)
    positions = _field(cfg, "positional_embedding_type", "standard") in ("standard", "shortformer")
    embed = d_vocab * d_model + (int(_field(cfg, "n_ctx", 0)) * d_model if positions else 0)
    unembed = d_model * d_vocab + d_vocab
    return embed + n_layers * (attn + mlp + norms) + norm_params + unembed


def cfg_ints(cfg, *names: str) -> tuple[int, ...]:
    missing = [n for n in names if _field(cfg, n) is None]
    if missing:
        raise ValueError(f"The model config lacks {', '.join(missing)}: give a complete HookedTransformerConfig.")
    return tuple(int(_field(cfg, n)) for n in names)


def estimate_model_load_bytes(n_parameters: int, dtype="float32", copies: int = MODEL_LOAD_COPIES) -> int:
    """Peak memory of loading a model of ``n_parameters`` (see MODEL_LOAD_COPIES)."""
    return int(n_parameters) * dtype_bytes(dtype) * copies


def available_bytes(device: str = "cpu") -> int:
    """Memory free now on ``device``: GPU memory for cuda, else the machine's available RAM."""
    if str(device).startswith("cuda"):
        # lazy: torch loads only when this runs, so importing saeviz.resources stays light
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    return _available_ram()


def _available_ram() -> int:
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        # lazy: psutil is optional
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # no /proc and no psutil: assume it fits rather than refuse everything
        return 1 << 62


def format_bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def fits(bytes_needed: int, device: str = "cpu") -> bool:
    """Whether ``bytes_needed`` fits in the usable share of the memory free on ``device`` now."""
    return bytes_needed <= USABLE_SHARE * available_bytes(device)


def ensure_fits(bytes_needed: int, what: str, *, device: str = "cpu", available: int | None = None,
                hint: str = "ask for less (fewer tokens or sequences, a narrower site, a smaller model) "
                             "or use a machine with more memory") -> None:
    """Raise ResourceError unless ``bytes_needed`` fits in the memory free on ``device``.

    ``what`` names the request in the message ("caching activations of 2,000,000 tokens x 2304");
    ``available`` overrides the measurement (tests, or a budget smaller than the machine)."""
    free = available_bytes(device) if available is None else int(available)
    if bytes_needed > USABLE_SHARE * free:
        where = "GPU memory" if str(device).startswith("cuda") else "memory"
        raise ResourceError(f"{what} needs about {format_bytes(bytes_needed)} but only {format_bytes(free)} of "
                            f"{where} is free: {hint}.")
