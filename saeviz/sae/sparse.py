"""TopK SAEs without their dense [tokens, d_sae] code.

A TopK SAE's code has k non-zeros per token out of d_sae (48 of 1,024 on the embedded default, 32 of
24,576 on GPT-2's): sae_lens materialises it densely, zeros included, and decodes with a dense matmul.
Here the k values and their latents are kept as they are and decoded with an embedding bag (a gather
and a weighted sum), which is what a sweep over many pruned SAEs spends most of its time on. Other
architectures (JumpReLU, standard) keep sae_lens' own encode/decode; ``sparse_code`` returns None for them.
"""

from __future__ import annotations

import torch

CHUNK_ROWS = 2048


def supports_sparse(sae) -> bool:
    """A plain TopK SAE that reads activations as they are (no run-time normalisation, no head reshaping)."""
    # lazy: sae_lens takes seconds to import
    from sae_lens import TopKSAE

    return (isinstance(sae, TopKSAE) and sae.cfg.normalize_activations == "none"
            and not getattr(sae, "hook_z_reshaping_mode", False))


@torch.inference_mode()
def sparse_code(sae, x_ND: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(values [N, k] after ReLU, latent indices [N, k]) exactly as the SAE's encode picks them, or None."""
    if not supports_sparse(sae):
        return None
    scale = sae.W_dec.norm(dim=-1) if sae.cfg.rescale_acts_by_decoder_norm else None
    values, indices = [], []
    # a few thousand rows at a time: the [rows, d_sae] pre-activations stay in cache for the top-k
    for chunk in x_ND.split(CHUNK_ROWS):
        pre = torch.addmm(sae.b_enc, sae.process_sae_in(chunk.to(sae.device, sae.dtype)), sae.W_enc)
        if scale is not None:
            pre = pre * scale
        v, i = torch.topk(pre, sae.cfg.k, dim=-1, sorted=False)
        values.append(v.relu_())
        indices.append(i)
    return torch.cat(values), torch.cat(indices)


@torch.inference_mode()
def sparse_decode(sae, values_NK: torch.Tensor, indices_NK: torch.Tensor) -> torch.Tensor:
    """[N, d_in] reconstruction from a sparse code: sum_k value_k * W_dec[latent_k] + b_dec."""
    if sae.cfg.rescale_acts_by_decoder_norm:
        values_NK = values_NK / sae.W_dec.norm(dim=-1)[indices_NK]
    out = torch.nn.functional.embedding_bag(indices_NK, sae.W_dec, per_sample_weights=values_NK, mode="sum")
    return out + sae.b_dec


def latent_sq_sums(values_NK: torch.Tensor, indices_NK: torch.Tensor, d_sae: int) -> torch.Tensor:
    """[d_sae] float64 sum over tokens of each latent's squared activation."""
    return torch.zeros(d_sae, dtype=torch.float64).index_add_(
        0, indices_NK.reshape(-1).cpu(), values_NK.reshape(-1).double().square().cpu())


def latent_fire_counts(values_NK: torch.Tensor, indices_NK: torch.Tensor, d_sae: int) -> torch.Tensor:
    """[d_sae] float64 count of the tokens each latent is active (non-zero) on, on the code's device."""
    return torch.zeros(d_sae, dtype=torch.float64, device=values_NK.device).index_add_(
        0, indices_NK.reshape(-1), (values_NK != 0).reshape(-1).double())
