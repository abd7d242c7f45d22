"""Figures of the embedded build: LM loss, unigram baseline, toy-world accuracy, SAE quality.

Pure tensor functions (`explained_variance`, `unigram_entropy`, ...) plus small loops that run
the model. SAE figures skip position 0: the BOS activation is an outlier of huge norm that every
SAE of this family reconstructs poorly and that no downstream use reads; the spliced CE keeps
BOS clean for the same reason.
"""

import math
from collections import defaultdict

import torch

from saeviz.metrics import explained_variance  # noqa: F401  (one definition, re-exported)


def unigram_entropy(tokens: torch.Tensor) -> float:
    """Entropy (nats) of the empirical unigram distribution of `tokens`: the loss of the best
    context-free predictor fitted on the very text it is scored on (a generous baseline)."""
    counts = torch.bincount(tokens.flatten().long()).double()
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())


@torch.no_grad()
def lm_loss(model, rows: torch.Tensor, batch: int = 64) -> float:
    """Mean next-token cross-entropy (nats) over all positions of `rows`."""
    tot, n = 0.0, 0
    for i in range(0, rows.shape[0], batch):
        b = rows[i:i + batch].long()
        loss = model(b, return_type="loss", loss_per_token=True)
        tot, n = tot + float(loss.sum()), n + loss.numel()
    return tot / n


def _score_sequences(model, seqs: list[list[int]], spans: list[tuple[int, int]], batch: int) -> list[float]:
    """Sum of log P(token) over positions [start, end) of each sequence."""
    out = []
    for i in range(0, len(seqs), batch):
        chunk, sp = seqs[i:i + batch], spans[i:i + batch]
        width = max(map(len, chunk))
        toks = torch.tensor([s + [0] * (width - len(s)) for s in chunk])
        logp = model(toks, return_type="logits").log_softmax(-1)
        for j, (a, b) in enumerate(sp):
            tgt = toks[j, a:b]
            out.append(float(logp[j, a - 1:b - 1].gather(-1, tgt[:, None]).sum()))
    return out


@torch.no_grad()
def fact_accuracy(model, tokenizer, prompts: list[dict], batch: int = 256) -> list[bool]:
    """For each prompt row (toyworld.fact_prompts), is the true answer the most probable
    candidate (summed log-probability of its tokens after BOS + prompt)?"""
    bos = tokenizer.bos_token_id
    seqs, spans, owners = [], [], []
    for k, row in enumerate(prompts):
        p = [bos] + tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
        for c in row["candidates"]:
            cid = tokenizer(c, add_special_tokens=False)["input_ids"]
            seqs.append(p + cid)
            spans.append((len(p), len(p) + len(cid)))
            owners.append((k, c))
    scores = _score_sequences(model, seqs, spans, batch)
    best: dict[int, tuple[float, str]] = {}
    for (k, c), s in zip(owners, scores):
        if k not in best or s > best[k][0]:
            best[k] = (s, c)
    return [best[k][1] == row["answer"] for k, row in enumerate(prompts)]


def accuracy_table(prompts: list[dict], correct: list[bool]) -> dict:
    """Accuracy overall, by template kind, and by attribute."""
    by_kind, by_attr = defaultdict(list), defaultdict(list)
    for row, ok in zip(prompts, correct):
        by_kind[row["kind"]].append(ok)
        by_attr[row["attribute"]].append(ok)
    mean = lambda v: round(sum(v) / len(v), 4)  # noqa: E731
    return {"overall": mean(correct), "n": len(correct),
            "by_kind": {k: mean(v) for k, v in sorted(by_kind.items())},
            "by_attribute": {k: mean(v) for k, v in sorted(by_attr.items())}}


def _sae_input(sae, acts: torch.Tensor) -> torch.Tensor:
    # hook_z SAEs saved with reshape_activations="hook_z" take [..., n_heads, d_head]
    return acts if getattr(sae, "hook_z_reshaping_mode", False) else acts.flatten(2)


@torch.no_grad()
def sae_metrics(model, sae, hook: str, rows: torch.Tensor, batch: int = 32) -> dict:
    """EV, MSE, L0, dead fraction (never active on `rows`) and CE clean / spliced / zero-ablated."""
    xs, xhs, l0s, fired = [], [], [], torch.zeros(sae.cfg.d_sae, dtype=torch.bool)
    ce = defaultdict(float)
    n_tok = 0
    for i in range(0, rows.shape[0], batch):
        b = rows[i:i + batch].long()
        clean, cache = model.run_with_cache(b, names_filter=[hook], return_type="loss", loss_per_token=True)
        acts = cache[hook]
        feats = sae.encode(_sae_input(sae, acts))
        recon = sae.decode(feats)
        f = feats[:, 1:].reshape(-1, feats.shape[-1])
        xs.append(acts[:, 1:].reshape(f.shape[0], -1))
        xhs.append(recon[:, 1:].reshape(f.shape[0], -1))
        l0s.append((f != 0).sum(-1).float())
        fired |= (f != 0).any(0)

        def splice(value, hook=None, new=recon):
            value[:, 1:] = new.reshape(value.shape)[:, 1:]
            return value

        def ablate(value, hook=None):
            value[:, 1:] = 0.0
            return value

        spliced = model.run_with_hooks(b, fwd_hooks=[(hook, splice)], return_type="loss", loss_per_token=True)
        zero = model.run_with_hooks(b, fwd_hooks=[(hook, ablate)], return_type="loss", loss_per_token=True)
        for name, loss in (("clean", clean), ("spliced", spliced), ("zero", zero)):
            ce[name] += float(loss.sum())
        n_tok += clean.numel()
    x, xh = torch.cat(xs), torch.cat(xhs)
    ce = {k: v / n_tok for k, v in ce.items()}
    denom = ce["zero"] - ce["clean"]
    return {"explained_variance": round(explained_variance(x, xh), 4),
            "mse": float((x - xh).pow(2).mean()), "l0": round(float(torch.cat(l0s).mean()), 2),
            "dead_fraction": round(float(1 - fired.float().mean()), 4),
            "ce_clean": round(ce["clean"], 4), "ce_spliced": round(ce["spliced"], 4),
            "ce_zero_ablated": round(ce["zero"], 4),
            "ce_loss_recovered": round((ce["zero"] - ce["spliced"]) / denom, 4) if denom > 0 else math.nan,
            "n_tokens": int(x.shape[0])}
