"""The sweep's floor: the work no implementation of the SAE sparsity sweep can skip, timed at its real shapes.

A sweep point (an SAE variant at one site and layer) must encode and decode every evaluation token with
the SAE, carry the spliced activations through everything after the hook, and score every position with
the unembedding and a log-sum-exp over the vocabulary. Nothing else (activations before the hook, the
clean run, calibration) has to be redone per point. This module times those three parts as bare tensor
operations on the compressed model's own weights and sums them over the sweep's points, so that ``bench``
can print the sweep's ratio to it. A TopK SAE decodes its k active latents only (a weighted sum of k
decoder rows); other SAEs decode dense. The blocks after the hook run through the model's own block
modules, whose Python overhead is a few calls per point.
"""

from __future__ import annotations

import time

import torch


def _median_time(fn, repeats: int = 3) -> float:
    fn()  # warm-up: allocations and kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _sae_part(sae, x_ND: torch.Tensor):
    shift = sae.b_dec if getattr(sae.cfg, "apply_b_dec_to_input", False) else 0.0

    def run():
        pre = (x_ND - shift) @ sae.W_enc + sae.b_enc
        k = getattr(sae.cfg, "k", None)
        if k:  # TopK: the k largest pre-activations stay, decoded as a weighted sum of k decoder rows
            vals, idx = pre.topk(int(k), dim=-1)
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
    def run():
        logits = model.unembed(model.ln_final(resid_BPD))
        return logits[:, :-1].logsumexp(-1)
    return run


def sweep_floor(model, saes: dict, tokens_BP: torch.Tensor, points_per_unit: int) -> dict:
    """Seconds of unavoidable work for ``points_per_unit`` points at each (site, layer) of ``saes``.

    saes: {(site, layer): SAE}; tokens_BP: the evaluation tokens. Returns the total and its parts."""
    parts = {"sae": 0.0, "after_hook": 0.0, "unembed": 0.0}
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
            parts["sae"] += points_per_unit * _median_time(_sae_part(sae, x))
            parts["after_hook"] += points_per_unit * _median_time(_after_hook(model, site, layer, resid, z))
            parts["unembed"] += points_per_unit * t_unembed
    return {"total_s": sum(parts.values()), **{f"{k}_s": v for k, v in parts.items()}}
