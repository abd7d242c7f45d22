"""RAVEL (Huang et al. 2024; sae_bench's `evals/ravel`) on any transformer_lens model.

For each entity attribute (city.country, ...): keep the fact prompts the model answers correctly (the
true value ranks first among the attribute's values by summed log-probability of its tokens), learn a
binary mask over SAE latents (MDBM, as sae_bench: sigmoid(logits / T) with T annealed 1 -> 1e-4,
trained on (base, source) pairs from *training* templates), then score on *held-out* templates:
at the last token of each mention of the base entity, the masked latents take the values the SAE gives
at the source entity's last token; the SAE's error (x - x_hat) is added back, so only the interchange
changes the activation. Cause: the target attribute's prediction becomes the source's value;
isolation: another attribute's prediction about the base entity stays the base's.

Differences from sae_bench, on purpose: the model is the one given (the compressed one), not a dense
HF model; prompts come from `inputs.world`; predictions rank the attribute's values (sae_bench checks
that 6 generated tokens contain the label); the mask is trained on the whole answer's tokens (sae_bench
uses the first token, which " the United States" and " the United Kingdom" share); the error term is
added back (sae_bench's default `add_error=False`); scoring uses held-out templates, not a 30% split of
shared templates; with two mentions of the entity ("Where is X? X is in") both are interchanged.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import torch

from saeviz.errors import SaevizError
from saeviz.evals import ravel_data as D
from saeviz.evals.base import EvalInputs, Evaluation, concat, rows
from saeviz.model import hub
from saeviz.model.hooks import flat_heads, layer_of
from saeviz.specs import _help

DEFAULT_ATTRIBUTES = ("city.country", "city.continent", "city.language",
                      "person.field", "person.country", "person.gender")


@dataclass(frozen=True)
class RavelSpec:
    """How RAVEL selects latents and scores interchanges (defaults: ~15 CPU-seconds per SAE on the embedded
    default, plus ~6 s once per model variant and hook for the prompts the model knows)."""

    attributes: tuple[str, ...] = _help(
        "Entity attributes 'entity.attribute'; each entity class needs at least two (isolation is "
        "measured on the class's other attributes). Default: the paper's city and person triples.",
        default=DEFAULT_ATTRIBUTES)
    prompts_per_attribute: int = _help(
        "Prompts drawn per attribute and split (training / held-out templates) before keeping the ones "
        "the model answers correctly.", default=192)
    n_pairs: int = _help("Scored (base, source) pairs per attribute for cause, and as many for isolation.",
                         default=128)
    n_train_pairs: int = _help("Mask-training pairs per attribute for cause, and as many for isolation.",
                               default=128)
    mask_steps: int = _help("Optimizer steps of the latent mask (MDBM) per attribute.", default=16)
    learning_rate: float = _help("Adam learning rate of the mask logits (sae_bench: 1e-3 over 2 epochs of ~7,000 pairs).",
                                 default=1e-2)
    max_latents: int = _help("Keep at most this many latents (largest mask logits); 0: no cap (sae_bench).",
                             default=0)
    batch_size: int = _help("Sequences per forward pass (a prompt scored against multi-token answers "
                            "takes several).", default=64)
    seed: int = _help("Seed of the prompt sample, the pairs and the training order.", default=0)

    def __post_init__(self):
        object.__setattr__(self, "attributes", tuple(self.attributes))  # a list from JSON / the CLI
        if not self.attributes:
            raise ValueError("attributes is empty: name at least two attributes of one entity class, e.g. "
                             "('city.country', 'city.continent').")
        classes: dict[str, int] = {}
        for a in self.attributes:
            if not re.fullmatch(r"[a-z_]+\.[a-z_]+", a):
                raise ValueError(f"attribute {a!r} must read 'entity.attribute', e.g. 'city.country'.")
            classes[a.split(".")[0]] = classes.get(a.split(".")[0], 0) + 1
        lonely = [c for c, n in classes.items() if n < 2]
        if lonely:
            raise ValueError(f"entity class {lonely[0]!r} has one attribute: add another of it (isolation "
                             "needs a second attribute) or drop it.")
        for name in ("prompts_per_attribute", "n_pairs", "n_train_pairs", "mask_steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate={self.learning_rate} must be positive, e.g. 1e-2.")
        if self.max_latents < 0:
            raise ValueError(f"max_latents={self.max_latents} must be 0 (no cap) or a positive count.")


# ---------------------------------------------------------------- the interchange itself

def interchange_BD(sae, x_base_BD: torch.Tensor, z_source_BF: torch.Tensor, mask_F: torch.Tensor) -> torch.Tensor:
    """x_base with the masked latents set to the source's: decode((1-m) z_base + m z_source) plus the
    base's SAE error, so an all-zero mask returns x_base (up to rounding) and only the interchange moves it."""
    x = x_base_BD.to(sae.dtype)
    with torch.no_grad():
        z_base_BF = sae.encode(x)
        error_BD = x - sae.decode(z_base_BF)
    mixed_BF = (1 - mask_F) * z_base_BF + mask_F * z_source_BF.to(sae.dtype)
    return (sae.decode(mixed_BF) + error_BD).to(x_base_BD.dtype)


def interchange_hook(sae, rows_M: torch.Tensor, pos_M: torch.Tensor, z_source_MF: torch.Tensor, mask_F: torch.Tensor):
    """A transformer_lens hook that interchanges latents at (rows_M[m], pos_M[m]) with z_source_MF[m];
    hook_z's [batch, pos, heads, d_head] is flattened for the SAE and restored."""

    def hook(act, hook=None):
        flat = flat_heads(act)
        idx = (rows_M.to(flat.device), pos_M.to(flat.device))
        new = interchange_BD(sae, flat[idx], z_source_MF, mask_F)
        return flat.index_put(idx, new).reshape(act.shape)

    return hook


def _pair_hook(sae, hook_name: str, positions: list[tuple[int, ...]], z_source_BF: torch.Tensor,
               mask_F: torch.Tensor, repeat: int = 1):
    """Hooks for a batch whose prompt b fills rows b*repeat .. b*repeat+repeat-1."""
    rows_M, pos_M, src_M = [], [], []
    for b, pos in enumerate(positions):
        for j in range(repeat):
            for p in pos:
                rows_M.append(b * repeat + j), pos_M.append(p), src_M.append(b)
    src = torch.tensor(src_M, device=z_source_BF.device)
    hook = interchange_hook(sae, torch.tensor(rows_M), torch.tensor(pos_M), z_source_BF[src], mask_F)
    return [(hook_name, hook)]


# ---------------------------------------------------------------- running the model

def _run(model, seqs: list[tuple[int, ...]], fwd_hooks, stop_at_layer) -> torch.Tensor:
    """The residual stream before `stop_at_layer` on right-padded rows (padding never reaches a real
    position under causal attention; the explicit mask keeps left-padding tokenizers from guessing)."""
    width = max(map(len, seqs))
    tokens = torch.zeros(len(seqs), width, dtype=torch.long)
    attn = torch.zeros(len(seqs), width, dtype=torch.long)
    for r, s in enumerate(seqs):
        tokens[r, : len(s)], attn[r, : len(s)] = torch.tensor(s), 1
    dev = model.cfg.device
    return model.run_with_hooks(tokens.to(dev), fwd_hooks=list(fwd_hooks), attention_mask=attn.to(dev),
                                stop_at_layer=stop_at_layer)


def logprobs_at(model, seqs: list[tuple[int, ...]], starts: list[int], n_pos: int, fwd_hooks=()) -> torch.Tensor:
    """[rows, n_pos, d_vocab] log-probabilities predicting tokens starts[r] + i (i < n_pos) of each
    row; only those positions are unembedded (the vocabulary matmul dominates small models)."""
    resid = _run(model, seqs, fwd_hooks, model.cfg.n_layers)
    width = resid.shape[1]
    pos_RL = (torch.tensor(starts)[:, None] - 1 + torch.arange(n_pos)).clamp(max=width - 1).to(resid.device)
    h = resid.gather(1, pos_RL[..., None].expand(-1, -1, resid.shape[-1]))
    if model.cfg.normalization_type is not None:
        h = model.ln_final(h)
    logits = model.unembed(h)
    cap = getattr(model.cfg, "output_logits_soft_cap", -1.0) or -1.0
    if cap > 0:
        logits = cap * torch.tanh(logits / cap)
    return logits.float().log_softmax(-1)


def candidate_scores(model, prompts: list[tuple[int, ...]], cands: D.Candidates, batch_size: int,
                     hooks_for=None) -> torch.Tensor:
    """[prompts, candidates] summed log-probability of each candidate answer after each prompt.
    hooks_for(indices, repeat) gives the hooks for those prompts, each repeated once per branch row.
    Prompts run shortest first, so that a batch pads little."""
    J, L = len(cands.branches), cands.tok_KL.shape[1]
    per = max(1, batch_size // J)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out = torch.zeros(len(prompts), len(cands.values))
    pos_KL = torch.arange(L).expand_as(cands.tok_KL)
    for a in range(0, len(order), per):
        idx = order[a : a + per]
        seqs = [prompts[i] + br for i in idx for br in cands.branches]
        hooks = hooks_for(idx, J) if hooks_for else ()
        logp = logprobs_at(model, seqs, [len(prompts[i]) for i in idx for _ in cands.branches], L, hooks)
        at = [t.to(logp.device) for t in (cands.branch_KL, pos_KL, cands.tok_KL)]
        picked_BKL = logp.view(len(idx), J, L, -1)[:, at[0], at[1], at[2]]
        out[idx] = (picked_BKL * cands.mask_KL.to(logp.device)).sum(-1).cpu()
    return out


def entity_activations(model, hook_name: str, prompts: list[D.FactPrompt], batch_size: int) -> torch.Tensor:
    """[prompts, d_in] clean activations at `hook_name` on each prompt's last entity token (flat heads)."""
    layer = layer_of(hook_name)
    stop = None if layer is None else layer + 1  # no layer after the hook's matters
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].tokens))
    out, got = None, {}

    def grab(act, hook):
        got["act"] = flat_heads(act)

    for a in range(0, len(order), batch_size):
        idx = order[a : a + batch_size]
        _run(model, [prompts[i].tokens for i in idx], [(hook_name, grab)], stop)
        last = torch.tensor([prompts[i].entity_pos[-1] for i in idx], device=got["act"].device)
        acts = got["act"][torch.arange(len(idx), device=last.device), last].float().cpu()
        out = torch.zeros(len(prompts), acts.shape[-1]) if out is None else out
        out[idx] = acts
    return out


@contextmanager
def _frozen(module):
    """Weights need no gradient while the mask trains (only the mask's does: a far cheaper backward)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(module.parameters(), flags):
            p.requires_grad_(f)


# ---------------------------------------------------------------- prompts the model knows (model-only, memoized)

def _pool(inputs: EvalInputs, spec: RavelSpec) -> tuple[list[D.FactPrompt], dict[str, D.Candidates]]:
    world, tok = inputs.world, inputs.model.tokenizer
    missing = [a for a in spec.attributes if a not in world["templates"]]
    if missing:
        raise SaevizError(f"attribute {missing[0]!r} is not in this world: choose from {sorted(world['templates'])}.")
    rng = random.Random(spec.seed)
    prompts = [p for split in ("train", "test") for a in spec.attributes
               for p in D.sample_prompts(world, tok, a, split, spec.prompts_per_attribute, rng)]
    return prompts, {a: D.attribute_candidates(world, tok, a) for a in spec.attributes}


@torch.no_grad()
def _model_tables(inputs: EvalInputs, spec: RavelSpec, prompts, cands) -> dict[str, torch.Tensor]:
    """Which prompts the model answers correctly, and its activations at their last entity token:
    the same for every SAE of a model variant and hook, so memoized."""
    blob = json.dumps([list(spec.attributes), spec.prompts_per_attribute, spec.seed, inputs.world.get("seed")])

    def compute():
        correct = torch.zeros(len(prompts), dtype=torch.uint8)
        for a in spec.attributes:
            idx = [i for i, p in enumerate(prompts) if p.attribute == a]
            scores = candidate_scores(inputs.model, [prompts[i].tokens for i in idx], cands[a], spec.batch_size)
            truth = torch.tensor([cands[a].index(prompts[i].value) for i in idx])
            correct[idx] = (scores.argmax(-1).cpu() == truth).to(torch.uint8)
        return {"correct": correct, "acts": entity_activations(inputs.model, inputs.hook, prompts, spec.batch_size)}

    return inputs.memo("ravel-" + hashlib.sha256(blob.encode()).hexdigest()[:16], compute)


# ---------------------------------------------------------------- selecting latents (MDBM) and scoring

def _encode(sae, acts_ND: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return sae.encode(acts_ND.to(sae.device, sae.dtype))


def train_mask(inputs: EvalInputs, spec: RavelSpec, prompts, acts, pairs: list[tuple[int, int, tuple[int, ...]]],
               seed: str) -> torch.Tensor:
    """[d_sae] 0/1 mask of the latents to interchange, learnt on (base, source, target answer tokens)
    pairs: minimise the target's negative log-likelihood under a sigmoid(logits / T) interchange."""
    sae, model = inputs.sae, inputs.model
    logits_F = torch.zeros(sae.cfg.d_sae, device=sae.device, requires_grad=True)
    if not pairs:
        return logits_F.detach()
    opt = torch.optim.Adam([logits_F], lr=spec.learning_rate)
    temps = torch.logspace(0, -4, spec.mask_steps).tolist()  # sae_bench's schedule, 1 -> 1e-4
    batches = D.length_batches(pairs, lambda q: len(prompts[q[0]].tokens) + len(q[2]), spec.batch_size,
                              spec.mask_steps, random.Random(seed))
    with _frozen(model), _frozen(sae):
        for step, batch in enumerate(batches):
            base = [prompts[b] for b, _, _ in batch]
            mask_F = torch.sigmoid(logits_F / temps[step])
            hooks = _pair_hook(sae, inputs.hook, [p.entity_pos for p in base],
                               _encode(sae, acts[[s for _, s, _ in batch]]), mask_F)
            width = max(len(t) for _, _, t in batch)
            tgt_RL = torch.tensor([list(t) + [0] * (width - len(t)) for _, _, t in batch])
            keep_RL = torch.tensor([[i < len(t) for i in range(width)] for _, _, t in batch])
            logp = logprobs_at(model, [p.tokens + t for p, (_, _, t) in zip(base, batch)],
                               [len(p.tokens) for p in base], width, hooks)
            picked = logp.gather(-1, tgt_RL[..., None].to(logp.device)).squeeze(-1)
            loss = -(picked * keep_RL.to(logp.device)).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    mask_F = (logits_F.detach() > 0).float()
    if spec.max_latents and int(mask_F.sum()) > spec.max_latents:
        mask_F = torch.zeros_like(mask_F).index_fill_(0, logits_F.detach().topk(spec.max_latents).indices, 1.0)
    return mask_F


@torch.no_grad()
def predict(inputs: EvalInputs, spec: RavelSpec, prompts, acts, bases: list[int], sources: list[int],
            cands: D.Candidates, mask_F: torch.Tensor) -> list[str]:
    """The top-ranked candidate value after interchanging `mask_F`'s latents from each source into each base."""
    if not bases:
        return []
    base = [prompts[b] for b in bases]

    def hooks_for(idx, repeat):
        return _pair_hook(inputs.sae, inputs.hook, [base[i].entity_pos for i in idx],
                          _encode(inputs.sae, acts[[sources[i] for i in idx]]), mask_F, repeat)

    scores = candidate_scores(inputs.model, [p.tokens for p in base], cands, spec.batch_size, hooks_for)
    return [cands.values[k] for k in scores.argmax(-1).tolist()]


def _attribute(inputs, spec, prompts, cands, tables, attr: str) -> dict[str, float]:
    """Train the mask on training-template pairs, then score it on held-out-template pairs (each
    attribute's pairs are seeded by its name: the same for every SAE variant)."""
    acts, correct = tables["acts"], tables["correct"].bool()
    others = [a for a in spec.attributes if a != attr and a.split(".")[0] == attr.split(".")[0]]
    known = D.correct_by_attribute(prompts, correct, "train")
    train_c, train_i = D.index_pairs(prompts, known, attr, others, spec.n_train_pairs,
                                     random.Random(f"{spec.seed}-{attr}-train"))
    answer = lambda i: cands[prompts[i].attribute].tokens(prompts[i].value)  # noqa: E731
    pairs = [(b, s, answer(s)) for b, s in train_c] + [(b, s, answer(b)) for b, s in train_i]
    mask_F = train_mask(inputs, spec, prompts, acts, pairs, f"{spec.seed}-{attr}-order")
    test = D.correct_by_attribute(prompts, correct, "test")
    cause, iso = D.index_pairs(prompts, test, attr, others, spec.n_pairs, random.Random(f"{spec.seed}-{attr}-test"))
    cause_pred = predict(inputs, spec, prompts, acts, [b for b, _ in cause], [s for _, s in cause], cands[attr], mask_F)
    iso_pred, iso_base = [], []
    for a in others:
        mine = [(b, s) for b, s in iso if prompts[b].attribute == a]
        iso_pred += predict(inputs, spec, prompts, acts, [b for b, _ in mine], [s for _, s in mine], cands[a], mask_F)
        iso_base += [prompts[b].value for b, _ in mine]
    sources = [prompts[s].value for _, s in cause]
    scores = D.ravel_scores(cause_pred, sources, iso_pred, iso_base)
    every = predict(inputs, spec, prompts, acts, [b for b, _ in cause], [s for _, s in cause], cands[attr],
                    torch.ones_like(mask_F))
    pool = [i for i, p in enumerate(prompts) if p.split == "test" and p.attribute == attr]
    return {**scores, "cause_all_latents": D.fraction([p == v for p, v in zip(every, sources)]),
            "n_base_prompts": len(cause), "n_isolation_pairs": len(iso_pred), "n_latents": float(mask_F.sum()),
            "clean_accuracy": float(correct[pool].float().mean())}


def run_ravel(inputs: EvalInputs, spec: RavelSpec) -> pd.DataFrame:
    """Rows (item, metric, value): per attribute ('city.country', ...) cause, isolation, disentanglement,
    n_base_prompts (scored cause pairs, one per base prompt), n_isolation_pairs, n_latents (selected),
    cause_all_latents (cause when every latent is interchanged: how much the site carries at all) and
    clean_accuracy (the model's on the held-out prompts, before any interchange); item '' holds the
    three scores averaged as sae_bench does (over each class's attributes, then over classes) and
    the total n_base_prompts."""
    if inputs.world is None:
        raise SaevizError(_no_world_message())
    total = 1 + len(spec.attributes)
    inputs.progress(0, total, "RAVEL: prompts the model knows")
    prompts, cands = _pool(inputs, spec)
    tables = _model_tables(inputs, spec, prompts, cands)
    per_attr = {}
    for k, attr in enumerate(spec.attributes):
        inputs.progress(1 + k, total, f"RAVEL: {attr}")
        per_attr[attr] = _attribute(inputs, spec, prompts, cands, tables, attr)
    inputs.progress(total, total, "RAVEL: done")
    means = D.summarize(per_attr)
    means["n_base_prompts"] = sum(s["n_base_prompts"] for s in per_attr.values())
    return concat([rows(means)] + [rows(s, item=a) for a, s in per_attr.items()])


# ---------------------------------------------------------------- sae_bench's own RAVEL (hub models)

SAE_BENCH_MODELS = ("gemma-2-2b", "pythia-160m-deduped")


def _no_world_message() -> str:
    if hub.hub_reachable():
        return ("RAVEL on this model needs a RAVEL prompt set, which only the embedded toy world provides; for "
                f"{' or '.join(SAE_BENCH_MODELS)} with a hook_resid_post SAE, call "
                "saeviz.evals.ravel.sae_bench_ravel(sae, model_name), sae_bench's own RAVEL (it downloads its "
                "prompts and the dense Hugging Face model).")
    return ("RAVEL on this model needs a RAVEL prompt set: only the embedded toy world provides one offline, and "
            "sae_bench's RAVEL prompts must be downloaded from the Hugging Face hub, which is unreachable.")


def sae_bench_ravel(sae, model_name: str, device: str = "cuda", output_path: str = "eval_results/ravel",
                    artifacts_path: str = "artifacts", **config) -> dict:
    """sae_bench's RAVEL (`sae_bench.evals.ravel.main.run_eval`) for a hook_resid_post SAE of gemma-2-2b or
    pythia-160m-deduped. sae_bench loads the *dense* model from the hub by name: a compressed model's
    RAVEL needs `run_ravel`. `config` overrides RAVELEvalConfig fields; returns sae_bench's result dict."""
    if model_name not in SAE_BENCH_MODELS:
        raise SaevizError(f"sae_bench's RAVEL supports {', '.join(SAE_BENCH_MODELS)}, not {model_name!r}.")
    hook = getattr(getattr(sae.cfg, "metadata", None), "hook_name", None) or getattr(sae.cfg, "hook_name", "")
    if not str(hook).endswith("hook_resid_post"):
        raise SaevizError(f"sae_bench's RAVEL intervenes on a layer's output: it needs a hook_resid_post SAE, not {hook!r}.")
    if not hub.hub_reachable():
        raise SaevizError("sae_bench's RAVEL downloads its prompts and the model from the Hugging Face hub, "
                          "which is unreachable: run it on a machine with network access.")
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.ravel import main as ravel_main
    from sae_bench.evals.ravel.eval_config import RAVELEvalConfig
    from sae_bench.sae_bench_utils.activation_collection import LLM_NAME_TO_BATCH_SIZE, LLM_NAME_TO_DTYPE

    cfg = RAVELEvalConfig(model_name=model_name, llm_batch_size=LLM_NAME_TO_BATCH_SIZE[model_name] // 4,
                          llm_dtype=LLM_NAME_TO_DTYPE[model_name], **config)
    return ravel_main.run_eval(cfg, [("saeviz", sae)], device, output_path, force_rerun=True,
                               artifacts_path=artifacts_path)


EVALUATION = Evaluation(
    name="ravel",
    spec_cls=RavelSpec,
    run=run_ravel,
    description=("RAVEL: per entity attribute, the SAE latents that carry it (a learned binary mask) are "
                 "interchanged between a base and a source entity; cause = the attribute takes the source's "
                 "value, isolation = the entity's other attributes keep theirs, disentanglement = their mean."),
    higher_is_better={"cause": True, "isolation": True, "disentanglement": True},
    needs_world=True,
)
