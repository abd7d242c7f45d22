"""Figures of the embedded build: LM loss, unigram baseline, toy-world accuracy, SAE quality.

Pure tensor functions (`unigram_entropy`, ...) plus small loops that run the model; SAE figures
come from saeviz.evals.measure, which skips BOS positions (outliers of huge norm that no downstream use
reads) in reconstruction and keeps them clean when splicing.
"""

from collections import defaultdict

import torch

from saeviz.evals.measure import evaluate_sae
from saeviz.evals.metrics import explained_variance  # noqa: F401  (one definition, re-exported)
from saeviz.model.activations import collect_activations
from saeviz.sae.load import flat_inputs


def unigram_entropy(tokens: torch.Tensor) -> float:
    """Entropy (nats) of the empirical unigram distribution of `tokens`: the loss of the best
    context-free predictor fitted on the very text it is scored on (a generous baseline)."""
    counts = torch.bincount(tokens.flatten().long()).double()
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())


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


def sae_figures(model, sae, hook: str, rows: torch.Tensor, batch: int = 32) -> dict:
    """An SAE's figures on token rows, through saeviz.evals.measure (the metrics every variant gets):
    reconstruction on the non-special positions and CE / KL with the SAE spliced in, rounded."""
    rows = rows.long()
    acts = collect_activations(model, hook, rows, batch)
    figures = evaluate_sae(model, flat_inputs(sae), hook, acts, rows, batch_size=batch)
    return {**{k: round(float(v), 5) for k, v in figures.items()}, "n_tokens": int(acts.shape[0])}
