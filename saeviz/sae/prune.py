"""Pruning an SAE's own encoder and decoder weights (biases and JumpReLU thresholds untouched).

sae_lens stores W_enc as [d_in, d_sae] and W_dec as [d_sae, d_in] (x @ W). In nn.Linear's
(d_out, d_in) orientation, which the masks are computed in, they are W_enc.T (inputs: the SAE's
input activations) and W_dec.T (inputs: the latent activations). WANDA compares within each
output row; the decoder is scored after the encoder is pruned, as WANDA does layer by layer.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch

from saeviz.compression.math import magnitude_mask, wanda_mask
from saeviz.sae.sparse import latent_sq_sums, sparse_code
from saeviz.specs import SaePruneSpec


@torch.no_grad()
def sae_input_norm(sae, acts_ND: torch.Tensor) -> torch.Tensor:
    """[d_in] L2 norm over tokens of what W_enc multiplies (after b_dec subtraction / normalisation)."""
    return sae.process_sae_in(acts_ND.to(sae.device)).square().sum(0, dtype=torch.float64).sqrt().float()


@torch.no_grad()
def latent_norm(sae, acts_ND: torch.Tensor) -> torch.Tensor:
    """[d_sae] L2 norm over tokens of each latent's activation (what W_dec multiplies)."""
    code = sparse_code(sae, acts_ND)
    if code is not None:  # TopK: k values per token, not the dense code
        return latent_sq_sums(*code, sae.cfg.d_sae).sqrt().float()
    return sae.encode(acts_ND.to(sae.device)).square().sum(0, dtype=torch.float64).sqrt().float()


def _wanda(weight_OI, norms_fn, sparsity):
    return wanda_mask(weight_OI, norms_fn(), sparsity)


def _magnitude(weight_OI, norms_fn, sparsity):
    return magnitude_mask(weight_OI, sparsity)


# method -> mask_fn(weight in (d_out, d_in), lazy input norms, sparsity) -> keep mask (d_out, d_in)
SAE_PRUNERS: dict[str, Callable] = {"wanda": _wanda, "magnitude": _magnitude}


def prunable_copy(sae):
    """A functionally identical copy whose W_enc/W_dec are the maps it really applies.

    TopK SAEs trained with rescale_acts_by_decoder_norm divide by each latent's decoder norm at run
    time: a latent whose decoder row is pruned away entirely would divide by zero. Folding the norms
    into the encoder (as sae_lens does before whitening) removes the division without changing outputs.
    """
    copy_ = copy.deepcopy(sae)
    if getattr(copy_.cfg, "rescale_acts_by_decoder_norm", False):
        copy_.fold_W_dec_norm()
        copy_.cfg.rescale_acts_by_decoder_norm = False
    return copy_


@dataclass(frozen=True)
class PrunedSae:
    sae: object
    masks: dict[str, torch.Tensor]  # "W_enc" / "W_dec" -> bool keep mask in sae_lens orientation
    achieved: dict[str, float]  # exact fraction of zeros per pruned matrix


def prune_sae(sae, spec: SaePruneSpec, calib_acts_ND: torch.Tensor | None = None) -> PrunedSae:
    """A pruned copy of ``sae`` (the original is untouched); WANDA needs the compressed model's activations."""
    if spec.method not in SAE_PRUNERS:
        raise ValueError(f"SAE pruning method {spec.method!r} unknown: choose from {sorted(SAE_PRUNERS)}.")
    if spec.method == "wanda" and calib_acts_ND is None:
        raise ValueError("WANDA pruning of an SAE needs calibration activations from the (compressed) model.")
    acts = None if calib_acts_ND is None else calib_acts_ND[: spec.n_calibration_tokens]
    pruned = prunable_copy(sae)
    mask_fn = SAE_PRUNERS[spec.method]
    masks, achieved = {}, {}
    with torch.no_grad():
        if "W_enc" in spec.matrices:
            keep = mask_fn(pruned.W_enc.T, lambda: sae_input_norm(pruned, acts), spec.sparsity).T
            pruned.W_enc.mul_(keep)
            masks["W_enc"] = keep
        if "W_dec" in spec.matrices:
            # scored with the already pruned encoder's latents (sequential, as WANDA does across layers)
            keep = mask_fn(pruned.W_dec.T, lambda: latent_norm(pruned, acts), spec.sparsity).T
            pruned.W_dec.mul_(keep)
            masks["W_dec"] = keep
    for name in masks:
        achieved[name] = float((getattr(pruned, name) == 0).float().mean())
    return PrunedSae(sae=pruned, masks=masks, achieved=achieved)


def apply_sae_masks(sae, masks: dict[str, torch.Tensor]):
    """Rebuild a pruned SAE from stored masks (the cache keeps masks, not weights)."""
    pruned = prunable_copy(sae)
    with torch.no_grad():
        for name, keep in masks.items():
            getattr(pruned, name).mul_(keep.to(pruned.device))
    return pruned
