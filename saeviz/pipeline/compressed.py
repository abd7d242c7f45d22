"""A compressed model from the cache when its masks (pruning by masks) or new weights (SparseGPT, GPTQ)
are stored, with no calibration pass; else compressed now and its masks or weights, calibration
statistics, per-matrix report and timing stored."""

from __future__ import annotations

import time
from typing import Callable

import torch

from saeviz.compression.methods import apply_masks, apply_weights, compress_model
from saeviz.jobs import Progress
from saeviz.resources import ensure_fits
from saeviz.specs import CompressSpec
from saeviz.store.db import Store


def compressed_model(base, compress: CompressSpec, key: str, store: Store, calibration: Callable[[], torch.Tensor],
                     model_name: str, progress: Progress | None = None):
    """``base`` compressed by ``compress`` (a copy; ``base`` itself for the dense model), stored under ``key``."""
    if compress.method == "dense":
        return base
    # both paths deep-copy the model: refuse before the copy, not half-way through it
    ensure_fits(param_bytes(base), f"a {compress.label()} copy of the model", device=str(base.cfg.device))
    masks = store.get_tensors("model_masks", key)
    if masks is not None:
        return apply_masks(base, {parse_matrix_key(k): v.bool() for k, v in masks.items()})
    weights = store.get_tensors("model_weights", key)
    if weights is not None:
        return apply_weights(base, {parse_matrix_key(k): v for k, v in weights.items()})
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


def param_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def matrix_key(layer: int, matrix: str) -> str:
    """How a (layer, matrix) is named in stored tensors: '3.W_in'."""
    return f"{layer}.{matrix}"


def parse_matrix_key(text: str) -> tuple[int, str]:
    layer, matrix = text.split(".", 1)
    return int(layer), matrix
