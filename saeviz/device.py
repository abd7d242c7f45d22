"""The one place that decides where tensors live: CUDA when present, else MPS, else CPU."""

from __future__ import annotations

import torch


def resolve_device(requested: str = "auto") -> str:
    """'auto' -> the best available device; an explicit device is checked, not trusted."""
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"Device {requested!r} was asked for but no CUDA GPU is visible: use 'auto' or 'cpu'.")
    return requested


def describe_device(device: str) -> str:
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        return f"{device} ({torch.cuda.get_device_name(index)})"
    return device


def str_to_dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]
