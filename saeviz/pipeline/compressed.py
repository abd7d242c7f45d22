"""A compressed model from the cache when its masks (pruning by masks) or new weights (SparseGPT, GPTQ)
are stored, with no calibration pass; else compressed now and its masks or weights, calibration
statistics, per-matrix report and timing stored."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Callable

import torch

from saeviz.compression.methods import apply_masks, apply_weights, compress_model, model_matrices, weight_param
from saeviz.errors import LoadError
from saeviz.jobs import Progress
from saeviz.model.families import processing_flags
from saeviz.model.load import load_local_checkpoint
from saeviz.resources import ensure_fits
from saeviz.specs import CHECKPOINT, PRUNABLE_MATRICES, CompressSpec
from saeviz.store.db import Store


def compressed_model(base, compress: CompressSpec, key: str, store: Store, calibration: Callable[[], torch.Tensor],
                     model_name: str, progress: Progress | None = None):
    """``base`` compressed by ``compress`` (a copy; ``base`` itself for the dense model), stored under ``key``."""
    if compress.method == "dense":
        return base
    if compress.method == CHECKPOINT:
        return checkpoint_model(base, compress, key, store, model_name)
    # both paths deep-copy the model: refuse before the copy, not half-way through it
    ensure_fits(param_bytes(base), f"a {compress.label()} copy of the model", device=str(base.cfg.device))
    expected = {matrix_key(layer, m) for layer in range(base.cfg.n_layers) for m in model_matrices(base.cfg, compress.matrices)}
    masks = store.get_tensors("model_masks", key)
    if masks is not None and expected <= set(masks):
        return apply_masks(base, {parse_matrix_key(k): v.bool() for k, v in masks.items()})
    weights = store.get_tensors("model_weights", key)
    if weights is not None and expected <= set(weights):
        return apply_weights(base, {parse_matrix_key(k): v for k, v in weights.items()})
    # not stored, or stored before W_gate of gated MLPs was compressed with W_in: computed (again) now
    store.ensure_writable()  # a read-only cache refuses now, before the calibration pass
    start = time.perf_counter()
    result = compress_model(base, compress, calibration(), progress)
    seconds = time.perf_counter() - start
    meta = {"compression": compress.label()}
    if result.weights:  # the kept weights moved too: a mask alone cannot rebuild the model
        store.put_tensors("model_weights", key, {matrix_key(*k): w.cpu() for k, w in result.weights.items()}, meta=meta)
    elif result.masks:
        store.put_tensors("model_masks", key, {matrix_key(*k): mask for k, mask in result.masks.items()}, meta=meta)
    if result.input_norms:  # WANDA's calibration statistics ||X_j||_2, kept for inspection
        store.put_tensors("calib_norms", key, {matrix_key(*k): n for k, n in result.input_norms.items()}, meta=meta)
    store.put_compress_stats([{**row, "compress_key": key, "model": model_name, "compression": compress.label()}
                              for row in result.rows()])
    store.put_timing(key, "compress", compress.label(), seconds)
    return result.model


def checkpoint_model(base, compress: CompressSpec, key: str, store: Store, model_name: str):
    """A checkpoint compressed elsewhere as a variant of ``base``: the checkpoint's weights in the base's
    processing state (transformer_lens' LayerNorm folding and centring, when the base has them), and the
    base's unembedding bias where the checkpoint's format has none (OPT, GPT-2, Llama hold no b_U).
    Every parameter comes from the checkpoint (AWQ, for one, rescales the LayerNorms), measured per matrix
    against the base; nothing is cached from a load that fails."""
    ensure_fits(param_bytes(base) * 2, f"the checkpoint {compress.checkpoint} and the base model", device=str(base.cfg.device))
    start = time.perf_counter()
    raw = load_local_checkpoint(Path(compress.checkpoint).expanduser(), device=str(base.cfg.device), dtype=base.cfg.dtype, process=False)
    _check_same_shapes(raw, base, compress.checkpoint)
    model = raw
    if base.cfg.normalization_type in ("LNPre", "RMSPre"):  # the base was loaded with fold_ln (from_pretrained's default)
        model = copy.deepcopy(raw)
        model.process_weights_(**processing_flags(model.cfg))
    with torch.no_grad():
        if not model.unembed.b_U.any():
            model.unembed.b_U.copy_(base.unembed.b_U)
        rows = [_matrix_row(raw, model, base, layer, matrix) | {"method": compress.label()}
                for layer in range(base.cfg.n_layers) for matrix in model_matrices(base.cfg, PRUNABLE_MATRICES)]
    model.cfg.model_name = base.cfg.model_name
    store.put_compress_stats([{**row, "compress_key": key, "model": model_name, "compression": compress.label()} for row in rows])
    store.put_timing(key, "compress", compress.label(), time.perf_counter() - start)
    return model.eval()


def _matrix_row(raw, model, base, layer: int, matrix: str) -> dict:
    """Sparsity as saved (before any centring moves the zeros) and mean |change| against the base as used."""
    ours, used, ref = (weight_param(m, layer, matrix) for m in (raw, model, base))
    return {"layer": layer, "matrix": matrix, "sparsity": float((ours == 0).float().mean()), "n_zero": int((ours == 0).sum()),
            "numel": ours.numel(), "quant_error": float((used - ref).abs().to(torch.float64).mean())}


def _check_same_shapes(model, base, where: str) -> None:
    ours, theirs = model.state_dict(), base.state_dict()
    for name, tensor in theirs.items():
        other = ours.get(name)
        if other is None or tuple(other.shape) != tuple(tensor.shape):
            shape = "absent" if other is None else tuple(other.shape)
            raise LoadError(f"The checkpoint in {where} does not match the base model {base.cfg.model_name}: {name} is "
                            f"{shape} there and {tuple(tensor.shape)} in the base; use --model to name the model it was compressed from.")


def param_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def matrix_key(layer: int, matrix: str) -> str:
    """How a (layer, matrix) is named in stored tensors: '3.W_in'."""
    return f"{layer}.{matrix}"


def parse_matrix_key(text: str) -> tuple[int, str]:
    layer, matrix = text.split(".", 1)
    return int(layer), matrix
