"""RAVEL's data for any tokenizer: fact prompts from the toy world, candidate answers, (base, source)
pairs and the cause / isolation arithmetic. Pure Python and tensors; no model runs here.

A prompt is a toy-world template cut before its answer ("Q: Where is Paris?\\nA: Paris is in"), with
the position of the last token of every mention of its entity (where RAVEL intervenes). Candidate
answers ("France", "the United States", ...) may span several tokens; `Candidates` precomputes the
few continuation rows ("branches") that let one forward pass per branch score every candidate.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from saeviz.embedded.toyworld import ENTITY_KIND, attribute_values, promptable, split_prompt

SPLITS = {"train": "train", "test": "heldout"}  # our split name -> the toy world's template split


@dataclass(frozen=True)
class FactPrompt:
    """One tokenized completion prompt about one entity."""

    attribute: str  # e.g. "city.country"
    split: str  # "train" (training templates: selecting latents) or "test" (held-out templates: scoring)
    entity: str
    value: str  # the true answer, without its leading space
    tokens: tuple[int, ...]  # BOS (when the tokenizer has one) + the prompt's tokens
    entity_pos: tuple[int, ...]  # index in `tokens` of the last token of each mention of the entity


def mention_ends(head: str, name: str) -> list[int]:
    """Character offsets just past each `{x}` of a template head once `{x}` is replaced by `name`."""
    pieces = head.split("{x}")
    ends, at = [], 0
    for piece in pieces[:-1]:
        at += len(piece) + len(name)
        ends.append(at)
    return ends


def last_token_at(offsets: list[tuple[int, int]], char_end: int) -> int:
    """Index of the last token starting before `char_end` (the token holding character char_end - 1)."""
    starts = [i for i, (s, e) in enumerate(offsets) if s < char_end and e > s]
    if not starts:
        raise ValueError(f"no token covers the characters before offset {char_end}")
    return starts[-1]


def encode_prompt(tokenizer, text: str, char_ends: list[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(BOS + token ids, position of the token holding each entity mention's last character)."""
    bos = [] if tokenizer.bos_token_id is None else [tokenizer.bos_token_id]
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, pos = enc["input_ids"], [last_token_at(enc["offset_mapping"], e) for e in char_ends]
    else:  # slow tokenizers have no offsets: count the tokens of each prefix instead
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        pos = [len(tokenizer(text[:e], add_special_tokens=False)["input_ids"]) - 1 for e in char_ends]
    return tuple(bos + ids), tuple(len(bos) + p for p in pos)


def _templates(world: dict, attribute: str, split: str) -> list[str]:
    """Completion templates of an attribute whose prompt names the entity at least once."""
    out = []
    for tpl in filter(promptable, world["templates"][attribute][SPLITS[split]]):
        text = tpl["text"]
        if "{x}" in text[: text.rindex("{a}")]:
            out.append(text)
    return out


def _known_entities(world: dict, attribute: str) -> list[dict]:
    """Entities whose facts the model was trained on (held-out entities are unknowable)."""
    key = ENTITY_KIND[attribute.split(".")[0]]
    held = set(world["heldout_entities"].get(key, ()))
    return [e for e in world["entities"][key] if e["name"] not in held]


def sample_prompts(world: dict, tokenizer, attribute: str, split: str, n: int, rng: random.Random) -> list[FactPrompt]:
    """Up to `n` distinct (template, entity) prompts of one attribute, drawn uniformly by `rng`."""
    field = attribute.split(".")[1]
    templates, entities = _templates(world, attribute, split), _known_entities(world, attribute)
    combos = rng.sample(range(len(templates) * len(entities)), min(n, len(templates) * len(entities)))
    out = []
    for c in combos:
        tpl, ent = templates[c // len(entities)], entities[c % len(entities)]
        text, _ = split_prompt(tpl, ent, ent[field])
        ends = mention_ends(tpl[: tpl.rindex("{a}")], ent["name"])
        tokens, pos = encode_prompt(tokenizer, text, ends)
        out.append(FactPrompt(attribute, split, ent["name"], ent[field], tokens, pos))
    return out


def maximal_prefixes(prefixes: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """The prefixes that are no proper prefix of another one (in first-seen order); [()] when all are empty."""
    uniq = list(dict.fromkeys(prefixes))
    keep = [p for p in uniq if not any(len(q) > len(p) and q[: len(p)] == p for q in uniq)]
    return keep or [()]


@dataclass(frozen=True)
class Candidates:
    """An attribute's candidate answers and how to read their log-probabilities from branch rows.

    Row j of a prompt is prompt + branches[j]; candidate k's i-th token is scored from row
    branch_KL[k, i] at the position predicting token i (only where mask_KL[k, i])."""

    values: tuple[str, ...]
    branches: tuple[tuple[int, ...], ...]
    branch_KL: torch.Tensor
    tok_KL: torch.Tensor
    mask_KL: torch.Tensor

    def index(self, value: str) -> int:
        return self.values.index(value)

    def tokens(self, value: str) -> tuple[int, ...]:
        k = self.index(value)
        return tuple(self.tok_KL[k][self.mask_KL[k]].tolist())


def build_candidates(tokenizer, values: list[str]) -> Candidates:
    """Candidates for answers `values` (each scored as " " + value, as the embedded report does)."""
    toks = [tuple(tokenizer(" " + v, add_special_tokens=False)["input_ids"]) for v in values]
    if any(not t for t in toks):
        raise ValueError("every candidate answer must encode to at least one token")
    branches = maximal_prefixes([t[:-1] for t in toks])
    width = max(map(len, toks))
    branch_KL = torch.zeros(len(toks), width, dtype=torch.long)
    tok_KL = torch.zeros(len(toks), width, dtype=torch.long)
    mask_KL = torch.zeros(len(toks), width, dtype=torch.bool)
    for k, t in enumerate(toks):
        j = next(j for j, b in enumerate(branches) if b[: len(t) - 1] == t[:-1])
        branch_KL[k], tok_KL[k, : len(t)], mask_KL[k, : len(t)] = j, torch.tensor(t), True
    return Candidates(tuple(values), tuple(branches), branch_KL, tok_KL, mask_KL)


def attribute_candidates(world: dict, tokenizer, attribute: str) -> Candidates:
    return build_candidates(tokenizer, attribute_values(world, attribute))


def cause_pairs(values: list[str], n: int, rng: random.Random) -> list[tuple[int, int]]:
    """Up to `n` (base, source) index pairs whose values differ: `n` distinct bases (as sae_bench samples
    its base prompts), each with a random source of another value."""
    out = []
    for b in rng.sample(range(len(values)), min(n, len(values))):
        others = [i for i, v in enumerate(values) if v != values[b]]
        if others:
            out.append((b, rng.choice(others)))
    return out


def isolation_pairs(values_by_attr: dict[str, list[str]], n: int, rng: random.Random) -> list[tuple[str, int, int]]:
    """Up to `n` (attribute, base, source) pairs drawn evenly from the other attributes: cause-style pairs
    of each, pooled, shuffled and cut to `n` (sae_bench's recipe)."""
    pooled = [(a, b, s) for a, vals in values_by_attr.items() for b, s in cause_pairs(vals, n, rng)]
    rng.shuffle(pooled)
    return pooled[:n]


def correct_by_attribute(prompts: list[FactPrompt], correct, split: str) -> dict[str, list[int]]:
    """Indices of the `split` prompts answered correctly, by attribute."""
    out: dict[str, list[int]] = {}
    for i, p in enumerate(prompts):
        if p.split == split and correct[i]:
            out.setdefault(p.attribute, []).append(i)
    return out


def index_pairs(prompts: list[FactPrompt], known: dict[str, list[int]], attr: str, others: list[str], n: int,
                rng: random.Random):
    """Cause pairs (base, source) of `attr` and isolation pairs (base, source) of `others`, as global indices."""
    vals = {a: [prompts[i].value for i in known.get(a, [])] for a in [attr, *others]}
    cause = [(known[attr][b], known[attr][s]) for b, s in cause_pairs(vals[attr], n, rng)]
    iso = [(known[a][b], known[a][s]) for a, b, s in isolation_pairs({a: vals[a] for a in others}, n, rng)]
    return cause, iso


def length_batches(items: list, length, batch_size: int, n_batches: int, rng: random.Random) -> list[list]:
    """`n_batches` batches of shuffled epochs over `items`; within windows of 8 batches, items of similar
    `length` share a batch (less padding), and the batches of a window run in random order."""
    out = []
    while len(out) < n_batches:
        order = rng.sample(items, len(items))
        for w in range(0, len(order), 8 * batch_size):
            window = sorted(order[w : w + 8 * batch_size], key=length)
            chunk = [window[i : i + batch_size] for i in range(0, len(window), batch_size)]
            out += rng.sample(chunk, len(chunk))
    return out[:n_batches]


def fraction(hits: list[bool]) -> float:
    return sum(hits) / len(hits) if hits else math.nan


def ravel_scores(cause_pred: list[str], cause_source: list[str], iso_pred: list[str], iso_base: list[str]) -> dict:
    """Cause: intervened predictions equal to the source's value; isolation: predictions of the other
    attributes still equal to the base's value; disentanglement: their mean (sae_bench's
    (cause + isolation) / 2 per attribute). NaN where a side has no pairs."""
    cause = fraction([p == s for p, s in zip(cause_pred, cause_source)])
    isolation = fraction([p == b for p, b in zip(iso_pred, iso_base)])
    return {"cause": cause, "isolation": isolation, "disentanglement": (cause + isolation) / 2}


def nanmean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def summarize(per_attribute: dict[str, dict[str, float]], metrics=("cause", "isolation", "disentanglement")) -> dict:
    """sae_bench's averaging: the mean over each entity class's attributes, then over classes
    (equal to the plain mean over attributes when every class has as many, as in the paper's 3 + 3)."""
    classes: dict[str, list[dict]] = {}
    for attr, scores in per_attribute.items():
        classes.setdefault(attr.split(".")[0], []).append(scores)
    return {m: nanmean([nanmean([s[m] for s in group]) for group in classes.values()]) for m in metrics}
