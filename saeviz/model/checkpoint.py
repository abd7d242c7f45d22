"""Compressed Hugging Face checkpoints as dense transformers models, on the CPU or a GPU, with no CUDA kernel.

- compressed-tensors (what llm-compressor saves: pack-quantized int4/int8, fp8, sparse saved dense):
  decompressed by compressed-tensors itself, through transformers' ``CompressedTensorsConfig(dequantize=True)``.
- GPTQ (qweight/qzeros/scales/g_idx, AutoGPTQ's and GPTQModel's format; v1 stores zero points minus one)
  and AWQ (GEMM layout, its nibble order): no library within saeviz's pins unpacks them, so this module
  does, in a few lines of integer arithmetic.
Everything else of the model (embeddings, norms, biases) is read as saved.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from pathlib import Path

import torch

from saeviz.errors import LoadError

QUANTIZED_FORMATS = ("compressed-tensors", "gptq", "awq")
AWQ_ORDER = (0, 4, 1, 5, 2, 6, 3, 7)  # packed nibble j of an AWQ int32 holds output column AWQ_ORDER.index(j)


def quantization_method(hf_config) -> str | None:
    qc = _quant_config(hf_config)
    return None if qc is None else str(qc.get("quant_method", "unknown")).lower()


def check_readable(path: Path, hf_config) -> None:
    """Refuse, before any weight is read, a quantization method saeviz cannot dequantize."""
    method = quantization_method(hf_config)
    if method is not None and method not in QUANTIZED_FORMATS:
        raise LoadError(f"{path} is quantized with {method!r}, which saeviz cannot read: supported are "
                        f"{', '.join(QUANTIZED_FORMATS)} (or give the full-precision checkpoint and let saeviz quantize it).")


def _quant_config(hf_config) -> dict | None:
    qc = getattr(hf_config, "quantization_config", None)
    if qc is None:
        return None
    return qc if isinstance(qc, dict) else qc.to_dict()


def _unpack_rows(q_RC: torch.Tensor, bits: int) -> torch.Tensor:
    """int32 (R, C) holding 32/bits values per entry along rows (lowest bits first) -> (R*32/bits, C)."""
    shifts = torch.arange(0, 32, bits, dtype=torch.int32, device=q_RC.device)
    vals = (q_RC.unsqueeze(1) >> shifts.view(1, -1, 1)) & (2**bits - 1)
    return vals.reshape(-1, q_RC.shape[1])


def _unpack_cols(q_RC: torch.Tensor, bits: int) -> torch.Tensor:
    """int32 (R, C) holding 32/bits values per entry along columns -> (R, C*32/bits)."""
    shifts = torch.arange(0, 32, bits, dtype=q_RC.dtype, device=q_RC.device)
    vals = (q_RC.unsqueeze(2) >> shifts.view(1, 1, -1)) & (2**bits - 1)
    return vals.reshape(q_RC.shape[0], -1)


def dequantize_gptq(qweight, qzeros, scales, g_idx, bits: int, v1: bool) -> torch.Tensor:
    """A GPTQ-packed Linear as its nn.Linear weight (d_out, d_in), float32.

    qweight (d_in*bits/32, d_out) packs inputs; qzeros (groups, d_out*bits/32) packs outputs; scales
    (groups, d_out); g_idx (d_in,) the group of each input (act-order checkpoints permute it).
    """
    q_IO = _unpack_rows(qweight, bits)
    d_in, d_out = q_IO.shape[0], scales.shape[1]
    if v1:
        # v1 wrote each packed word minus 0x11111111 (one per field, borrows included): add it back
        # on the whole word, as the libraries' v1 -> v2 conversion does, carries included.
        offset = sum(1 << s for s in range(0, 32, bits))
        qzeros = ((qzeros.to(torch.int64) & 0xFFFFFFFF) + offset) & 0xFFFFFFFF
    zeros_GO = _unpack_cols(qzeros, bits)[:, :d_out]
    g = g_idx.long() if g_idx is not None else torch.arange(d_in, device=q_IO.device) // (d_in // scales.shape[0])
    w_IO = (q_IO - zeros_GO[g]).float() * scales.float()[g]
    return w_IO.T.contiguous()


def dequantize_awq(qweight, qzeros, scales, bits: int, group_size: int) -> torch.Tensor:
    """An AWQ (GEMM) Linear as its nn.Linear weight (d_out, d_in), float32: qweight (d_in, d_out*bits/32)
    and qzeros (groups, d_out*bits/32) pack outputs in AWQ's interleaved order; scales (groups, d_out)."""
    per = 32 // bits
    order = torch.tensor(AWQ_ORDER[:per] if per == 8 else range(per), device=qweight.device)

    def unpack(q):
        vals = _unpack_cols(q, bits).reshape(q.shape[0], -1, per)
        return vals[:, :, order].reshape(q.shape[0], -1)

    q_IO, zeros_GO = unpack(qweight), unpack(qzeros)
    d_in = q_IO.shape[0]
    g = torch.arange(d_in, device=q_IO.device) // (group_size if group_size > 0 else d_in)
    w_IO = (q_IO - zeros_GO[g]).float() * scales.float()[g]
    return w_IO.T.contiguous()


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    # lazy: safetensors loads only when a checkpoint is read
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for file in sorted(path.glob("*.safetensors")):
        state.update(load_file(str(file)))
    return state


def _dequantized_state(path: Path, qc: dict, method: str) -> dict[str, torch.Tensor]:
    bits = int(qc.get("bits", qc.get("w_bit", 4)))
    if 32 % bits:
        raise LoadError(f"{path} is a {bits}-bit {method} checkpoint: saeviz unpacks 2, 4 and 8 bits.")
    if method == "awq":
        version = str(qc.get("version", qc.get("format", "gemm"))).lower()
        if version != "gemm":
            raise LoadError(f"{path} is an AWQ checkpoint in the {version!r} layout: saeviz unpacks the GEMM layout "
                            "(AutoAWQ's and GPTQModel's default); re-save it with version='gemm'.")
    v1 = str(qc.get("checkpoint_format", "gptq")).lower() != "gptq_v2"
    state = _read_tensors(path)
    out = {k: v for k, v in state.items() if not k.endswith((".qweight", ".qzeros", ".scales", ".g_idx"))}
    for name in [k[: -len(".qweight")] for k in state if k.endswith(".qweight")]:
        needed = ["qweight", "qzeros", "scales"]
        missing = [part for part in needed if f"{name}.{part}" not in state]
        if missing:
            raise LoadError(f"{path} is missing {', '.join(f'{name}.{p}' for p in missing)} of its packed {method} weights: "
                            "the checkpoint is incomplete; re-download or re-save it.")
        parts = [state[f"{name}.{p}"] for p in needed]
        if method == "gptq":
            weight = dequantize_gptq(*parts, state.get(f"{name}.g_idx"), bits, v1)
        else:
            weight = dequantize_awq(*parts, bits, int(qc.get("group_size", qc.get("q_group_size", 128))))
        out[f"{name}.weight"] = weight
    return out


def load_dense_hf(path: Path, hf_config, dtype: torch.dtype):
    """The transformers model of a checkpoint directory with every weight dense (dequantized where packed)."""
    # lazy: transformers takes seconds to import
    from transformers import AutoModelForCausalLM

    method = quantization_method(hf_config)
    qc = _quant_config(hf_config)
    try:
        if method is None or (method == "compressed-tensors" and not qc.get("config_groups")):
            # use_safetensors: never fall back to a pickled pytorch_model.bin lying next to the weights
            return AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, local_files_only=True, use_safetensors=True)
        if method == "compressed-tensors":
            return _load_compressed_tensors(path, dtype)
    except LoadError:
        raise
    except Exception as exc:  # transformers raises many types here (OSError, SafetensorError, RuntimeError on shapes)
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise LoadError(f"transformers could not load the checkpoint in {path} ({first}): "
                        "check that its weights match its config.json, or re-save it.") from None
    check_readable(path, hf_config)
    state = _dequantized_state(path, qc, method)
    dense_config = copy.deepcopy(hf_config)
    del dense_config.quantization_config
    model = AutoModelForCausalLM.from_config(dense_config, dtype=dtype)
    expected = set(model.state_dict())
    missing = sorted(expected - set(state) - {"lm_head.weight"} if _tied(dense_config) else expected - set(state))
    if missing:
        raise LoadError(f"{path} is missing {len(missing)} tensors its config needs (e.g. {missing[0]}): "
                        "the checkpoint is incomplete; re-download or re-save it.")
    try:
        model.load_state_dict({k: v.to(dtype) for k, v in state.items() if k in expected}, strict=False)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1][:300]
        raise LoadError(f"The weights in {path} do not fit its config.json ({first}).") from None
    if _tied(dense_config):
        model.tie_weights()
    return model.eval()


def _tied(hf_config) -> bool:
    return bool(getattr(hf_config, "tie_word_embeddings", False))


def _load_compressed_tensors(path: Path, dtype: torch.dtype):
    # lazy: transformers takes seconds to import
    from transformers import AutoModelForCausalLM, CompressedTensorsConfig

    try:
        import compressed_tensors  # noqa: F401  # lazy: only quantized checkpoints need it
    except ImportError:
        raise LoadError(f"{path} is a compressed-tensors checkpoint: install compressed-tensors (pip install "
                        "compressed-tensors==0.18.0, in requirements.txt) to read it.") from None
    return AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, local_files_only=True, use_safetensors=True,
                                                quantization_config=CompressedTensorsConfig(dequantize=True))


def fingerprint(path: Path) -> str:
    """16 hex characters that change when a checkpoint's config or any weight file changes (header and size:
    no weights read), so a cached variant is never served for a re-saved checkpoint at the same path."""
    path = Path(path).expanduser()
    if not (path / "config.json").is_file():
        raise LoadError(f"Checkpoint {path} is not a Hugging Face checkpoint directory (no config.json there): "
                        "check the path given after checkpoint:.")
    # every page rerun forms the variant's keys: read the files again only when one of them changed
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in [path / "config.json", *sorted(path.glob("*.safetensors"))])
    return _fingerprint(str(path), stamp)


@functools.lru_cache(maxsize=64)
def _fingerprint(folder: str, stamp: tuple) -> str:  # stamp: only the cache key (names, sizes, mtimes)
    path = Path(folder)
    digest = hashlib.sha256((path / "config.json").read_bytes())
    for file in sorted(path.glob("*.safetensors")):
        with open(file, "rb") as f:
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else 0
            digest.update(file.name.encode() + head + f.read(min(n, 100_000_000)) + str(file.stat().st_size).encode())
    return digest.hexdigest()[:16]
