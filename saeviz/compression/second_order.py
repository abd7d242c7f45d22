"""Second-order compression of one matrix from its inputs' Gram matrix: SparseGPT and GPTQ.

Both minimise the layer's output error ||W X - W' X||^2 over calibration inputs X, column by column:
after a column is pruned (SparseGPT, Frantar & Alistarh 2023) or rounded (GPTQ, Frantar et al. 2022),
the error it leaves is spread over the columns not yet processed through the inverse Hessian
H^-1 of H = 2 X X^T / n. The order of work follows both papers' reference code: dead inputs
(zero diagonal) get H_jj = 1 and zero weights, dampening of ``damp`` times the mean diagonal, the
upper Cholesky factor of H^-1, blocks of 128 columns with lazy updates of the rest.

Weights are in nn.Linear convention, (d_out, d_in); the Gram matrix is (d_in, d_in). Work happens
in float32 (or float64 when the weight is float64) on the weight's device.
"""

from __future__ import annotations

import torch

from saeviz.compression.math import quant_grid, snap
from saeviz.errors import SaevizError

BLOCK = 128  # columns per lazy-update block, as in both reference implementations


class IllConditioned(SaevizError):
    """The dampened Hessian is not positive definite: more calibration data or more damping is needed."""


def _work_dtype(weight: torch.Tensor) -> torch.dtype:
    return torch.float64 if weight.dtype == torch.float64 else torch.float32


def _inverse_factor(gram_II: torch.Tensor, w_OI: torch.Tensor, damp: float) -> torch.Tensor:
    """Upper Cholesky factor of the dampened inverse Hessian; zeroes ``w_OI``'s dead columns in place."""
    h_II = gram_II.to(device=w_OI.device, dtype=w_OI.dtype).clone()
    dead_I = torch.diag(h_II) == 0
    h_II[dead_I, dead_I] = 1.0
    w_OI[:, dead_I] = 0.0
    h_II.diagonal().add_(damp * torch.diag(h_II).mean())
    try:
        lower = torch.linalg.cholesky(h_II)
        return torch.linalg.cholesky(torch.cholesky_inverse(lower), upper=True)
    except torch.linalg.LinAlgError:
        raise IllConditioned(
            f"The calibration inputs' Hessian is not positive definite even with damping {damp:g}: "
            "use more calibration sequences or a larger damping (e.g. 0.1)."
        ) from None


def _check(weight_OI: torch.Tensor, gram_II: torch.Tensor) -> None:
    if weight_OI.ndim != 2 or gram_II.shape != (weight_OI.shape[1], weight_OI.shape[1]):
        raise ValueError(f"weight {tuple(weight_OI.shape)} and Gram matrix {tuple(gram_II.shape)} do not match: "
                         "pass a (d_out, d_in) weight and the (d_in, d_in) Gram matrix of its inputs.")


def sparsegpt(weight_OI: torch.Tensor, gram_II: torch.Tensor, sparsity: float,
              n_m: tuple[int, int] | None = None, damp: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """SparseGPT: (pruned and updated weight, keep-mask), both (d_out, d_in).

    Unstructured: within each block of 128 columns, the ``sparsity`` share of weights with the lowest
    w^2 / [H^-1]_jj^2 across the whole block is pruned (the paper's adaptive mask selection, so rows may
    differ in their counts). ``n_m=(N, M)``: in every run of M columns of a row the M-N lowest go.
    """
    _check(weight_OI, gram_II)
    dtype = _work_dtype(weight_OI)
    w_OI = weight_OI.detach().to(dtype).clone()
    u_II = _inverse_factor(gram_II, w_OI, damp)
    d_out, d_in = w_OI.shape
    pruned_OI = torch.zeros_like(w_OI, dtype=torch.bool)
    if n_m is not None and d_in % n_m[1]:
        raise ValueError(f"N:M pruning with M={n_m[1]} needs d_in to be a multiple of M, but d_in={d_in}.")
    for i1 in range(0, d_in, BLOCK):
        i2 = min(i1 + BLOCK, d_in)
        w1, u1 = w_OI[:, i1:i2].clone(), u_II[i1:i2, i1:i2]
        err1 = torch.zeros_like(w1)
        diag1 = torch.diag(u1)
        prune1 = torch.zeros(w1.shape, dtype=torch.bool, device=w1.device)
        if n_m is None:
            score = w1.pow(2) / diag1.pow(2).unsqueeze(0)
            n_drop = int(score.numel() * sparsity)
            if n_drop:
                order = torch.argsort(score.flatten(), stable=True)
                prune1.view(-1)[order[:n_drop]] = True
        for i in range(i2 - i1):
            if n_m is not None and i % n_m[1] == 0:
                score = w1[:, i:i + n_m[1]].pow(2) / diag1[i:i + n_m[1]].pow(2).unsqueeze(0)
                drop = torch.topk(score, n_m[1] - n_m[0], dim=1, largest=False).indices
                prune1.scatter_(1, i + drop, True)
            w, d = w1[:, i], u1[i, i]
            q = torch.where(prune1[:, i], torch.zeros_like(w), w)
            e = (w - q) / d
            w1[:, i:] -= e.unsqueeze(1) * u1[i, i:].unsqueeze(0)
            w1[:, i] = q
            err1[:, i] = e
        w_OI[:, i1:i2] = w1
        pruned_OI[:, i1:i2] = prune1
        w_OI[:, i2:] -= err1 @ u_II[i1:i2, i2:]
    w_OI[pruned_OI] = 0.0
    return w_OI.to(weight_OI.dtype), ~pruned_OI


def gptq(weight_OI: torch.Tensor, gram_II: torch.Tensor, bits: int, group_size: int = 128, symmetric: bool = True,
         act_order: bool = False, damp: float = 0.01) -> torch.Tensor:
    """GPTQ: the weight quantized on RTN's grid (``quant_grid``) with error feedback, dequantized.

    Groups are ``group_size`` consecutive columns (0: one group per row) in processing order; with
    ``act_order`` columns are processed by decreasing H_jj, and so are the groups (AutoGPTQ's
    desc_act), each group's grid fixed from its weights as updated when the group starts.
    """
    _check(weight_OI, gram_II)
    dtype = _work_dtype(weight_OI)
    w_OI = weight_OI.detach().to(dtype).clone()
    d_in = w_OI.shape[1]
    h_II = gram_II.to(device=w_OI.device, dtype=dtype)
    perm = torch.argsort(torch.diag(h_II), descending=True, stable=True) if act_order else None
    if perm is not None:
        w_OI, h_II = w_OI[:, perm], h_II[perm][:, perm]
    u_II = _inverse_factor(h_II, w_OI, damp)
    size = d_in if group_size <= 0 else group_size
    grid = None
    for i1 in range(0, d_in, BLOCK):
        i2 = min(i1 + BLOCK, d_in)
        w1, u1 = w_OI[:, i1:i2].clone(), u_II[i1:i2, i1:i2]
        err1 = torch.zeros_like(w1)
        for i in range(i2 - i1):
            col = i1 + i
            if col % size == 0:
                # the group's columns as updated so far: inside this block from w1, beyond it from w_OI
                group = torch.cat([w1[:, i:], w_OI[:, i2:]], dim=1)[:, : min(size, d_in - col)]
                grid = quant_grid(group, bits, symmetric)
            w, d = w1[:, i], u1[i, i]
            step, zero, q_min, q_max = grid
            q = snap(w.unsqueeze(1), step, zero, q_min, q_max).squeeze(1)
            e = (w - q) / d
            w1[:, i:] -= e.unsqueeze(1) * u1[i, i:].unsqueeze(0)
            w1[:, i] = q
            err1[:, i] = e
        w_OI[:, i1:i2] = w1
        w_OI[:, i2:] -= err1 @ u_II[i1:i2, i2:]
    if perm is not None:
        w_OI = w_OI[:, torch.argsort(perm)]
    return w_OI.to(weight_OI.dtype)
