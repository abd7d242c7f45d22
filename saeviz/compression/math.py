"""Pure tensor math of model compression: pruning masks and round-to-nearest quantization.

Every function takes a weight in PyTorch's ``nn.Linear`` convention, ``W_OI`` of shape
(d_out, d_in): row ``i`` holds the weights that produce output feature ``i``, column ``j`` the
weights that read input feature ``j``. Masks are bool tensors of the weight's shape, True = keep.
Transformer_lens' (d_in, d_out) per-head layouts are converted in ``saeviz.compression.methods``.

Conventions shared by all masks, so that a given sparsity always means the same thing:
- The number of weights removed from a group of ``g`` weights is ``floor(sparsity * g)`` (with a
  1e-9 slack so that 0.3 * 10 removes 3, not 2): never more than asked, and the achieved sparsity
  is exactly that count over ``g``.
- Ties are broken by position: among equal scores the weight with the lower index (in row-major
  order of the group) is removed first. A stable sort implements this, so masks are reproducible
  across runs and machines.
"""

from __future__ import annotations

import math

import torch

_FLOOR_SLACK = 1e-9


def n_removed(sparsity: float, group: int) -> int:
    """How many of ``group`` weights a ``sparsity`` fraction removes: floor(sparsity * group)."""
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity={sparsity!r} must be a fraction in [0, 1].")
    return min(group, math.floor(sparsity * group + _FLOOR_SLACK))


def _keep_top_per_row(scores_RG: torch.Tensor, n_drop: int) -> torch.Tensor:
    """Bool mask (R, G): in each row, drop the ``n_drop`` lowest scores (ties: lower index first)."""
    keep_RG = torch.ones_like(scores_RG, dtype=torch.bool)
    if n_drop == 0:
        return keep_RG
    order_RG = torch.argsort(scores_RG, dim=-1, stable=True)
    keep_RG.scatter_(-1, order_RG[:, :n_drop], False)
    return keep_RG


def _check_weight(weight_OI: torch.Tensor) -> None:
    if weight_OI.ndim != 2:
        raise ValueError(
            f"weight has shape {tuple(weight_OI.shape)}: expected a 2-D (d_out, d_in) matrix in nn.Linear convention."
        )


def wanda_scores(weight_OI: torch.Tensor, input_norm_I: torch.Tensor) -> torch.Tensor:
    """WANDA importance ``|W_ij| * ||X_j||_2`` (Sun et al. 2023).

    weight_OI: (d_out, d_in); input_norm_I: (d_in,), the L2 norm of input feature j over all
    calibration tokens. Returns (d_out, d_in) float scores.
    """
    _check_weight(weight_OI)
    if input_norm_I.shape != (weight_OI.shape[1],):
        raise ValueError(
            f"input_norm has shape {tuple(input_norm_I.shape)} but the weight reads {weight_OI.shape[1]} inputs: "
            "pass one norm per input feature (a (d_in,) vector), with the weight in (d_out, d_in) orientation."
        )
    # float32 at least: half-precision products would turn near-equal scores into ties.
    dtype = torch.promote_types(weight_OI.dtype, torch.float32)
    return weight_OI.abs().to(dtype) * input_norm_I.to(device=weight_OI.device, dtype=dtype).unsqueeze(0)


def keep_mask(scores_OI: torch.Tensor, sparsity: float, n_m: tuple[int, int] | None = None) -> torch.Tensor:
    """Keep-mask (d_out, d_in) from importance scores, compared within each output row.

    Unstructured (``n_m`` None): each row loses its ``floor(sparsity * d_in)`` lowest scores, so every
    row has the same number of zeros. ``n_m=(N, M)``: in every run of M consecutive inputs of a row
    the N highest scores are kept (``sparsity`` is then ignored; the achieved sparsity is 1 - N/M).
    """
    _check_weight(scores_OI)
    d_out, d_in = scores_OI.shape
    if n_m is None:
        return _keep_top_per_row(scores_OI, n_removed(sparsity, d_in))
    n, m = n_m
    if not 0 < n <= m:
        raise ValueError(f"n_m={n_m!r}: need 0 < N <= M, e.g. (2, 4).")
    if d_in % m != 0:
        raise ValueError(
            f"N:M pruning with M={m} needs the input dimension to be a multiple of M, but d_in={d_in}: "
            f"choose an M that divides {d_in} or use unstructured sparsity."
        )
    scores_RM = scores_OI.reshape(d_out * d_in // m, m)
    return _keep_top_per_row(scores_RM, m - n).reshape(d_out, d_in)


def wanda_mask(
    weight: torch.Tensor, input_norm: torch.Tensor, sparsity: float, n_m: tuple[int, int] | None = None
) -> torch.Tensor:
    """WANDA keep-mask (True = keep) of a (d_out, d_in) nn.Linear-convention weight.

    input_norm: (d_in,) holding ||X_j||_2 over the calibration tokens. Comparison groups are the
    output rows (unstructured) or N:M runs of consecutive inputs within a row; see ``keep_mask``.
    """
    return keep_mask(wanda_scores(weight, input_norm), sparsity, n_m)


def magnitude_mask(weight_OI: torch.Tensor, sparsity: float, n_m: tuple[int, int] | None = None) -> torch.Tensor:
    """Per-row magnitude keep-mask: WANDA's comparison groups with every input norm equal to 1."""
    _check_weight(weight_OI)
    return keep_mask(weight_OI.abs(), sparsity, n_m)


def magnitude_global_mask(weight_OI: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Whole-matrix magnitude keep-mask: the ``floor(sparsity * numel)`` smallest |W| go, wherever they are."""
    _check_weight(weight_OI)
    flat_1N = weight_OI.abs().reshape(1, -1)
    return _keep_top_per_row(flat_1N, n_removed(sparsity, flat_1N.shape[1])).reshape(weight_OI.shape)


# --- round-to-nearest quantization -------------------------------------------------------------

def _groups(weight_OI: torch.Tensor, group_size: int) -> list[tuple[slice, int]]:
    """Column slices of the quantization groups: ``group_size`` consecutive inputs of a row.

    group_size 0 (or >= d_in) means one group per row. When d_in is not a multiple of group_size the
    last group is shorter rather than padded, so padding values never widen a group's range.
    """
    d_in = weight_OI.shape[1]
    size = d_in if group_size <= 0 else min(group_size, d_in)
    return [(slice(start, min(start + size, d_in)), min(size, d_in - start)) for start in range(0, d_in, size)]


def quant_grid(w_RG: torch.Tensor, bits: int, symmetric: bool) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """The round-to-nearest grid of each row of a group: (step (R, 1), zero point (R, 1), q_min, q_max).

    A value w is stored as the integer q = clamp(round(w / step) + zero, q_min, q_max) and read back as
    (q - zero) * step. GPTQ quantizes on the same grid, so GPTQ and RTN differ only in error feedback.
    """
    if symmetric:
        q_max = 2 ** (bits - 1) - 1
        step_R1 = w_RG.abs().amax(dim=1, keepdim=True) / q_max
        step_R1 = torch.where(step_R1 > 0, step_R1, torch.ones_like(step_R1))  # all-zero group: any step is exact
        return step_R1, torch.zeros_like(step_R1), -q_max, q_max
    levels = 2**bits - 1
    lo_R1, hi_R1 = w_RG.amin(dim=1, keepdim=True), w_RG.amax(dim=1, keepdim=True)
    step_R1 = (hi_R1 - lo_R1) / levels
    step_R1 = torch.where(step_R1 > 0, step_R1, torch.ones_like(step_R1))
    # An integer zero point makes 0.0 exactly representable (zero weights stay zero); rounding it
    # shifts the grid by at most half a step, which the clamp in snap() absorbs within the same bound.
    return step_R1, torch.round(-lo_R1 / step_R1), 0, levels


def snap(w: torch.Tensor, step: torch.Tensor, zero: torch.Tensor, q_min: int, q_max: int) -> torch.Tensor:
    """w quantized on a grid from ``quant_grid`` and dequantized back (broadcasting step and zero)."""
    return (torch.clamp(torch.round(w / step) + zero, q_min, q_max) - zero) * step


def _rtn_group(w_RG: torch.Tensor, bits: int, symmetric: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize-dequantize rows of one group; returns (dequantized (R, G), step (R, 1))."""
    step_R1, zero_R1, q_min, q_max = quant_grid(w_RG, bits, symmetric)
    return snap(w_RG, step_R1, zero_R1, q_min, q_max), step_R1


def _rtn(weight_OI: torch.Tensor, bits: int, group_size: int, symmetric: bool) -> tuple[torch.Tensor, torch.Tensor]:
    _check_weight(weight_OI)
    if bits < 2:
        raise ValueError(f"bits={bits}: round-to-nearest needs at least 2 bits.")
    # float64 so that the dequantized grid is exact to well below float32's resolution.
    w_OI = weight_OI.detach().to(torch.float64)
    deq_OI, step_OI = torch.empty_like(w_OI), torch.empty_like(w_OI)
    for cols, _ in _groups(w_OI, group_size):
        deq, step = _rtn_group(w_OI[:, cols], bits, symmetric)
        deq_OI[:, cols], step_OI[:, cols] = deq, step.expand_as(deq)
    return deq_OI.to(weight_OI.dtype), step_OI.to(weight_OI.dtype)


def quantize_rtn(weight: torch.Tensor, bits: int, group_size: int = 128, symmetric: bool = True) -> torch.Tensor:
    """Round-to-nearest quantization of a (d_out, d_in) weight, dequantized back to its float dtype.

    Groups are ``group_size`` consecutive inputs within each output row (0: the whole row).
    symmetric: step = max|w| / (2^(b-1) - 1), integers in [-(2^(b-1)-1), 2^(b-1)-1], no zero point.
    asymmetric: step = (max - min) / (2^b - 1), 2^b levels with an integer zero point.
    Every element then satisfies |w - q(w)| <= step / 2 (see ``rtn_step``).
    """
    return _rtn(weight, bits, group_size, symmetric)[0]


def rtn_step(weight: torch.Tensor, bits: int, group_size: int = 128, symmetric: bool = True) -> torch.Tensor:
    """The quantization step (scale) of each element's group, shape (d_out, d_in), for error bounds."""
    return _rtn(weight, bits, group_size, symmetric)[1]


# --- transformer_lens layouts <-> nn.Linear (d_out, d_in) ----------------------------------------
# transformer_lens stores weights as (d_in, d_out), attention split per head; the masks above want
# one row per output feature. Each *_from_linear inverts its *_to_linear for any same-shaped tensor.

def heads_in_to_linear(w_HME: torch.Tensor) -> torch.Tensor:
    # W_Q/W_K/W_V [n_heads, d_model, d_head] -> (n_heads*d_head, d_model): row h*d_head+e is the
    # output feature e of head h, the order hook_q/k/v flatten to.
    return w_HME.permute(0, 2, 1).reshape(-1, w_HME.shape[1])


def heads_in_from_linear(t_OI: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    n_heads, d_model, d_head = shape
    return t_OI.reshape(n_heads, d_head, d_model).permute(0, 2, 1)


def heads_out_to_linear(w_HEM: torch.Tensor) -> torch.Tensor:
    # W_O [n_heads, d_head, d_model] -> (d_model, n_heads*d_head): input column h*d_head+e is
    # hook_z[..., h, e], the order hook_z flattens to.
    return w_HEM.reshape(-1, w_HEM.shape[-1]).T


def heads_out_from_linear(t_OI: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    return t_OI.T.reshape(shape)


def transpose_back(t_OI: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    return t_OI.T  # W_in [d_model, d_mlp] and W_out [d_mlp, d_model] are plain (d_in, d_out)
