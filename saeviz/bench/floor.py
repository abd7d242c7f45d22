"""The sweep's floor: the work no implementation of the SAE sparsity sweep can skip, timed at its real shapes.

Per (site, layer), every SAE the sweep evaluates (the dense reference, the pretrained SAE, each pruned one)
must encode and decode every evaluation token; every spliced run (those SAEs, plus zero ablation on the
dense and on the compressed model) must carry the spliced activations through everything after the hook
and score every position with the unembedding and a log-sum-exp over the vocabulary; and every WANDA-pruned
SAE must encode the calibration tokens with its pruned encoder, because its decoder's scores are the norms
of those latents. Nothing else (activations before the hook, the clean run, calibration activations) has
to be redone per point. This module times those four parts as bare tensor operations on the compressed
model's own weights and sums them over the sweep's counts, so that ``bench`` can print the sweep's ratio
to it. A TopK SAE decodes its k active latents only (a weighted sum of k decoder rows); other SAEs decode
dense. The blocks after the hook run through the model's own block modules, whose Python overhead is a
few calls per point, and the log-sum-exp is the sweep's own chunked one (bare tensor work).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from saeviz.evals.splice import logsumexp_of_unembed


def _median_time(fn, repeats: int = 3) -> float:
    fn()  # warm-up: allocations and kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


@dataclass(frozen=True)
class FloorCounts:
    """How often each part runs per (site, layer) of a sweep."""

    sae_points: int  # SAEs encoded and decoded on the evaluation tokens
    spliced_runs: int  # runs after the hook (each SAE, and zero ablation per model variant)
    pruned: int  # WANDA-pruned SAEs, each encoding the calibration tokens once
    calibration_tokens: int

    @classmethod
    def of_sweep(cls, sae_sparsities, calibration_tokens: int, sae_prune_method: str = "wanda") -> "FloorCounts":
        pruned = sum(1 for s in sae_sparsities if s > 0)
        points = 2 + pruned  # the dense reference and the pretrained SAE (pruned 0% is the pretrained one)
        return cls(sae_points=points, spliced_runs=points + 2, pruned=pruned if sae_prune_method == "wanda" else 0,
                   calibration_tokens=calibration_tokens)


def _encode_part(sae, x_ND: torch.Tensor):
    """The pruned encoder's latents on calibration tokens, reduced to each latent's squared norm."""
    shift = sae.b_dec if getattr(sae.cfg, "apply_b_dec_to_input", False) else 0.0

    def run():
        pre = (x_ND - shift) @ sae.W_enc + sae.b_enc
        k = getattr(sae.cfg, "k", None)
        if k:
            vals, idx = pre.topk(int(k), dim=-1, sorted=False)
            return torch.zeros(pre.shape[1]).index_add_(0, idx.reshape(-1), vals.relu().square().reshape(-1))
        return pre.relu().square().sum(0)
    return run


def _sae_part(sae, x_ND: torch.Tensor):
    shift = sae.b_dec if getattr(sae.cfg, "apply_b_dec_to_input", False) else 0.0

    def run():
        pre = (x_ND - shift) @ sae.W_enc + sae.b_enc
        k = getattr(sae.cfg, "k", None)
        if k:  # TopK: the k largest pre-activations stay, decoded as a weighted sum of k decoder rows
            vals, idx = pre.topk(int(k), dim=-1, sorted=False)
            return torch.nn.functional.embedding_bag(idx, sae.W_dec, per_sample_weights=vals.relu(), mode="sum") + sae.b_dec
        return pre.relu() @ sae.W_dec + sae.b_dec
    return run


def _after_hook(model, site: str, layer: int, resid_BPD: torch.Tensor, z_BPHE: torch.Tensor):
    """Everything between the hook and the final residual, through the model's own modules."""
    blocks = model.blocks

    def run():
        x = resid_BPD
        if site == "attn":  # the rest of block `layer`: W_O, then its MLP
            block = blocks[layer]
            attn_out = torch.einsum("bphe,hed->bpd", z_BPHE, block.attn.W_O) + block.attn.b_O
            x = x + attn_out
            x = x + block.mlp(block.ln2(x))
        for i in range(layer + 1, model.cfg.n_layers):
            x = blocks[i](x)
        return x
    return run


def _unembed(model, resid_BPD: torch.Tensor):
    W_U, b_U = model.W_U.float(), model.b_U.float()

    def run():
        h = model.ln_final(resid_BPD)[:, :-1]
        return logsumexp_of_unembed(h.reshape(-1, h.shape[-1]), W_U, b_U)
    return run


def sweep_floor(model, saes: dict, tokens_BP: torch.Tensor, counts: FloorCounts) -> dict:
    """Seconds of unavoidable work of a sweep with ``counts`` at each (site, layer) of ``saes``.

    saes: {(site, layer): SAE}; tokens_BP: the evaluation tokens. Returns the total and its parts."""
    parts = {"sae": 0.0, "after_hook": 0.0, "unembed": 0.0, "prune_encode": 0.0}
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens_BP, names_filter=lambda n: n.endswith(("hook_resid_post", "hook_z")))
        final = cache[f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"]
        t_unembed = _median_time(_unembed(model, final))
        for (site, layer), sae in saes.items():
            resid = cache[f"blocks.{layer}.hook_resid_post"]
            z = cache[f"blocks.{layer}.attn.hook_z"]
            x = z.reshape(-1, z.shape[-2] * z.shape[-1]) if site == "attn" else resid.reshape(-1, resid.shape[-1])
            sae = sae.to(x.device)
            # only the shapes matter for the time: any residual of the right shape starts the remainder
            parts["sae"] += counts.sae_points * _median_time(_sae_part(sae, x))
            parts["after_hook"] += counts.spliced_runs * _median_time(_after_hook(model, site, layer, resid, z))
            parts["unembed"] += counts.spliced_runs * t_unembed
            if counts.pruned:
                calib = x.repeat(-(-counts.calibration_tokens // x.shape[0]), 1)[: counts.calibration_tokens]
                parts["prune_encode"] += counts.pruned * _median_time(_encode_part(sae, calib))
    return {"total_s": sum(parts.values()), **{f"{k}_s": v for k, v in parts.items()}}
