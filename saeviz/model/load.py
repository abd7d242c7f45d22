"""Loading language models through transformer_lens: the embedded default, hub names, local checkpoints."""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from pathlib import Path

import torch

from saeviz import embedded
from saeviz.device import resolve_device, str_to_dtype
from saeviz.errors import LoadError, UnsafeWeightsError
from saeviz.model.checkpoint import check_readable, load_dense_hf
from saeviz.model.export import UNEMBED_BIAS, saeviz_export
from saeviz.model.families import convert_weights, hooked_config_fields, processing_flags
from saeviz.model.hooks import hook_width
from saeviz.model.hub import cache_only_when_offline, hub_reachable, missing_from_cache, repo_cached
from saeviz.resources import ensure_fits, estimate_model_load_bytes, transformer_parameters
from saeviz.specs import SITE_HOOKS, ModelSpec

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
FORCE_WEIGHTS_ONLY = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"  # torch >= 2.4 honours it even over weights_only=False
MAX_SAFETENSORS_HEADER = 100_000_000  # the safetensors library's own limit


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
    if not embedded.is_built():
        raise LoadError(
            "The embedded default model is missing from saeviz/embedded/assets: "
            "run `python -m saeviz build-embedded` (or restore the files with git checkout)."
        )
    return embedded.load_model(device=device)


def _load_hub(name: str, device: str, dtype: torch.dtype):
    # lazy: transformer_lens takes seconds to import
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
        raise missing_from_cache(f"Model {name!r} (repo {official}, file config.json)", LookupError("not cached"))
    with cache_only_when_offline():
        _hub_model_fits(name, device, dtype)
        try:
            with weights_only_loads():
                return HookedTransformer.from_pretrained(name, device=device, dtype=dtype)
        except OSError as exc:  # LocalEntryNotFoundError names the file offline; HTTP errors online
            raise missing_from_cache(f"Model {name!r} (repo {official})", exc) from None


def _hub_model_fits(name: str, device: str, dtype: torch.dtype) -> None:
    """Refuse a hub model too large for this machine before downloading gigabytes of it."""
    # lazy: transformer_lens takes seconds to import
    from transformer_lens.loading_from_pretrained import get_pretrained_model_config

    try:
        cfg = get_pretrained_model_config(name, dtype=dtype)
    except Exception:  # noqa: BLE001  the load itself reports what is wrong with the name or the hub
        return
    ensure_model_fits(transformer_parameters(cfg), name, device, dtype)


def ensure_model_fits(n_parameters: int, name: str, device: str, dtype: torch.dtype) -> None:
    """Loading peaks at several copies in RAM; the loaded model then needs one copy on the GPU."""
    what = f"Loading {name} ({n_parameters / 1e6:,.1f} M parameters, {str(dtype).replace('torch.', '')})"
    ensure_fits(estimate_model_load_bytes(n_parameters, dtype), what)
    if str(device).startswith("cuda"):
        ensure_fits(estimate_model_load_bytes(n_parameters, dtype, copies=1), what, device=device)


_WEIGHTS_ONLY_LOCK = threading.Lock()
_weights_only_depth = [0, None]  # active contexts, and the variable's value before the first


@contextlib.contextmanager
def weights_only_loads():
    """While active, every torch.load in this process unpickles tensors only (weights_only=True),
    even where a library asks for full unpickling (transformer_lens' *.pth hub files do)."""
    with _WEIGHTS_ONLY_LOCK:
        if _weights_only_depth[0] == 0:
            _weights_only_depth[1] = os.environ.get(FORCE_WEIGHTS_ONLY)
            os.environ[FORCE_WEIGHTS_ONLY] = "1"
        _weights_only_depth[0] += 1
    try:
        yield
    finally:
        with _WEIGHTS_ONLY_LOCK:
            _weights_only_depth[0] -= 1
            if _weights_only_depth[0] == 0:
                if _weights_only_depth[1] is None:
                    os.environ.pop(FORCE_WEIGHTS_ONLY, None)
                else:
                    os.environ[FORCE_WEIGHTS_ONLY] = _weights_only_depth[1]


def check_safetensors(path: Path) -> int:
    """Number of values a .safetensors file holds, after checking its header and length (no data read).

    A LoadError names the file when it is truncated or not safetensors at all, instead of the
    safetensors library's stack trace half-way through a load."""
    fix = "re-download or re-save it (model.save_pretrained(dir) or sae.save_model(dir))"
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(8)
        n_header = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if not 1 < n_header <= min(size - 8, MAX_SAFETENSORS_HEADER):
            raise LoadError(f"{path} is truncated or not a safetensors file (its header is cut short or garbled): {fix}.")
        try:
            header = json.loads(f.read(n_header))
            tensors = [t for name, t in header.items() if name != "__metadata__"]
            end = max((int(t["data_offsets"][1]) for t in tensors), default=0)
            values = sum(math.prod(t["shape"]) for t in tensors)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            raise LoadError(f"{path} is corrupt (its safetensors header is not valid): {fix}.") from None
    if size != 8 + n_header + end:
        raise LoadError(f"{path} is truncated or corrupt ({size:,} bytes where its header announces "
                        f"{8 + n_header + end:,}): {fix}.")
    return values


def refuse_pickles(folder: Path, what: str) -> None:
    """Refuse a folder whose only weights are pickles: unpickling can run arbitrary code."""
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles and not any(folder.glob("*.safetensors")):
        raise UnsafeWeightsError(
            f"{what} in {folder} holds pickled weights ({', '.join(pickles[:3])}), which saeviz never unpickles: "
            "convert them to safetensors, e.g. model.save_pretrained(dir, safe_serialization=True) "
            "or sae.save_model(dir)."
        )


def _read_hf_config(path: Path):
    # lazy: transformers takes seconds to import
    from transformers import AutoConfig

    if not (path / "config.json").is_file():
        raise LoadError(f"{path} has no config.json: point --model at a Hugging Face checkpoint directory (config.json + weights).")
    try:
        return AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LoadError(f"{path}/config.json cannot be read as a Hugging Face config ({first}): re-save the checkpoint.") from None


def _checkpoint_values(path: Path) -> int:
    refuse_pickles(path, "The checkpoint")
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise LoadError(f"{path} has no *.safetensors weights: save the model with model.save_pretrained(dir).")
    return sum(check_safetensors(f) for f in files)


def load_local_checkpoint(path: Path, device: str = "cpu", dtype: torch.dtype = torch.float32, process: bool | None = None):
    """A local Hugging Face checkpoint (e.g. pruned by another tool) as a HookedTransformer, offline.

    Families: those in saeviz.model.families.FAMILIES (GPT-2, GPT-NeoX/Pythia, Llama, Mistral,
    Gemma, Gemma-2, Qwen2, OPT). Weights are read from safetensors only; quantized checkpoints
    (compressed-tensors, GPTQ, AWQ) are dequantized to dense weights (``saeviz.model.checkpoint``).
    process: apply transformer_lens' weight processing (LayerNorm folding, centring); None decides as
    from_pretrained does, except for saeviz's own exports, which load as they were written."""
    # lazy: transformer_lens takes seconds to import; transformers takes seconds to import
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformers import AutoTokenizer

    hf_config = _read_hf_config(path)
    check_readable(path, hf_config)
    fields = hooked_config_fields(hf_config)
    n_values = _checkpoint_values(path)
    ensure_model_fits(n_values, path.name, device, dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError, TypeError) as exc:
        raise LoadError(f"No usable tokenizer in {path} ({exc}): save the tokenizer next to the weights (tokenizer.save_pretrained).") from None
    hf_model = load_dense_hf(path, hf_config, dtype)
    cfg = HookedTransformerConfig(**fields, model_name=path.name, init_weights=False, device=device, dtype=dtype)
    state = convert_weights(hf_model, cfg)
    del hf_model  # the state dict keeps what it needs
    model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
    if process is False or (process is None and saeviz_export(hf_config)):
        # saeviz's own export (or a base's processing state): weights as they were, b_U where the export kept it
        state.update(_extra_tensors(path, dtype))
        model.load_and_process_state_dict(state, fold_ln=False, center_writing_weights=False, center_unembed=False,
                                          fold_value_biases=False)
    else:
        model.load_and_process_state_dict(state, **processing_flags(cfg))
    return model.to(device)


def _extra_tensors(path: Path, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """transformer_lens tensors that the exported format has no place for, stored by ``export_hf`` (b_U)."""
    # lazy: safetensors loads only when a checkpoint is read
    from safetensors import safe_open

    for file in sorted(path.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            if UNEMBED_BIAS in f.keys():
                return {"unembed.b_U": f.get_tensor(UNEMBED_BIAS).to(dtype)}
    return {}


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
    widths = {site: hook_width(model.cfg, SITE_HOOKS[site].format(layer=0)) for site in SITE_HOOKS}
    return [
        {"layer": layer, "site": site, "hook": SITE_HOOKS[site].format(layer=layer), "width": widths[site]}
        for layer in range(model.cfg.n_layers)
        for site in SITE_HOOKS
    ]
