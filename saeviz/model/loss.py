"""The language-modelling loss of a model on token rows: the one CE function (dense and compressed
models, the embedded model's report, the dashboard's model page)."""

from __future__ import annotations

import math

import torch


def ce_loss(model, tokens: torch.Tensor, batch_size: int = 8) -> float:
    """Mean next-token cross-entropy (nats) over every predicted position of ``tokens`` (n_seq, seq_len)."""
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, tokens.shape[0], batch_size):
            batch = tokens[i:i + batch_size].to(device=model.cfg.device, dtype=torch.long)
            loss_BP = model(batch, return_type="loss", loss_per_token=True)
            total += loss_BP.to(torch.float64).sum().item()
            count += loss_BP.numel()
    return total / count


def perplexity(model, tokens: torch.Tensor, batch_size: int = 8) -> float:
    return math.exp(ce_loss(model, tokens, batch_size))
