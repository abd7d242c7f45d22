"""The feature browser's compute-or-read shell: the only code that touches the cache for features.

Statistics of one SAE variant (``feature_tables``) and its change against its reference variant
(``latent_changes``) are computed once, from one pass over the evaluation tokens of the model variant
the SAE belongs to, and stored under keys derived from ``store.keys.variant_key`` and the specs:
tables as Parquet frames, arrays as safetensors, each indexed by a row in the DuckDB cache.
The statistics themselves are pure functions in ``saeviz.features.stats`` and ``saeviz.features.diff``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from saeviz.embedded.toyworld import ENTITY_KIND
from saeviz.errors import SaevizError
from saeviz.features.diff import (
    MatchSpec,
    PairedAccumulator,
    changes_frame,
    identity_pairs,
    match_latents,
    rank_latents,
    unmatched_reference,
    weight_removed,
)
from saeviz.features.stats import (
    FeatureSpec,
    FeatureTables,
    LatentAccumulator,
    best_concepts,
    concept_scores,
    decoder_in_resid,
    display_token,
    find_mentions,
    logit_effects,
    mention_tokens,
    summarize,
    top_token_labels,
)
from saeviz.jobs import Progress, report
from saeviz.model.activations import keep_positions, special_token_ids
from saeviz.pipeline.runner import sae_of
from saeviz.pipeline.sae_variants import variant_key, variant_model
from saeviz.sae.variants import VariantSpec
from saeviz.specs import CompressSpec, spec_key
from saeviz.store.keys import combine_keys, model_compression

# Bumped whenever what the feature tables or change frames hold changes, so stale ones are never read.
FEATURES_VERSION = 3


def reference_of(variant: VariantSpec) -> VariantSpec | None:
    """What a variant is compared with: the dense reference for 'pretrained', the pretrained SAE otherwise."""
    if variant.kind == "dense":
        return None
    return VariantSpec("dense") if variant.kind == "pretrained" else VariantSpec("pretrained")


def _tokens(bench, spec: FeatureSpec) -> torch.Tensor:
    tokens = bench.tokens("eval")
    return tokens if spec.n_sequences is None else tokens[: spec.n_sequences]


def stats_key(bench, compress: CompressSpec, site: str, layer: int, variant: VariantSpec, spec: FeatureSpec) -> str:
    return combine_keys("features", FEATURES_VERSION, variant_key(bench, compress, site, layer, variant), spec_key(spec))


# --- cache ------------------------------------------------------------------------------------------
def read_tables(store, key: str) -> FeatureTables | None:
    latents = store.get_frame("feature_latents", key)  # written last: its presence means the rest is there
    if latents is None:
        return None
    return FeatureTables(latents, store.get_frame("feature_examples", key), store.get_tensors("feature_arrays", key))


def read_changes(store, key: str) -> pd.DataFrame | None:
    return store.get_frame("feature_changes", key)


def _write_tables(store, key: str, tables: FeatureTables, meta: dict) -> None:
    store.put_frame("feature_examples", key, tables.examples, meta)
    store.put_tensors("feature_arrays", key, tables.arrays, meta)
    store.put_frame("feature_latents", key, tables.latents, meta)


def vocabulary(bench, model=None) -> list[str]:
    """Every token id's text (decoded alone), cached once per model."""
    key = combine_keys("vocab", bench.model_key)
    frame = bench.store.get_frame("feature_vocab", key)
    if frame is None:
        model = model or bench.base_model
        tok, n = getattr(model, "tokenizer", None), model.cfg.d_vocab
        texts = tok.batch_decode([[i] for i in range(n)]) if tok is not None else [str(i) for i in range(n)]
        frame = pd.DataFrame({"text": texts})
        bench.store.put_frame("feature_vocab", key, frame)
    return frame["text"].tolist()


# --- statistics of one variant ----------------------------------------------------------------------
def feature_tables(bench, compress: CompressSpec, site: str, layer: int, variant: VariantSpec,
                   spec: FeatureSpec = FeatureSpec(), progress: Progress | None = None, compute: bool = True) -> FeatureTables | None:
    """Every latent's statistics of one SAE variant, from the cache or computed (compute=False: None when missing)."""
    key = stats_key(bench, compress, site, layer, variant, spec)
    tables = read_tables(bench.store, key)
    if tables is not None or not compute:
        return tables
    start = time.perf_counter()
    tables = compute_tables(bench, compress, site, layer, variant, spec, progress)
    seconds = time.perf_counter() - start
    _write_tables(bench.store, key, tables, {"variant": variant.label(), "compression": compress.label(), "site": site, "layer": layer})
    bench.store.put_timing(key, "features", f"{compress.label()} {site} L{layer} {variant.label()}", seconds,
                           int(tables.arrays["n_kept"][0]))
    return tables


def kept_activations(bench, compress: CompressSpec, variant: VariantSpec, hook: str, n_sequences: int) -> torch.Tensor:
    """[n_kept, d] hook activations of the variant's model on the first n_sequences evaluation rows,
    special positions dropped (row-major order); the Workbench caches them, shared by every SAE variant
    on that model and by evaluations on the same rows."""
    return bench.activations(model_compression(compress, variant), hook, "eval", n_sequences)


def chunk_rows(keep_NT: torch.Tensor, batch_size: int):
    """Yield (first sequence, last sequence + 1, first kept row, last kept row + 1) per chunk of sequences."""
    ends = torch.cumsum(keep_NT.sum(1), 0).tolist()
    for start in range(0, keep_NT.shape[0], batch_size):
        stop = min(start + batch_size, keep_NT.shape[0])
        yield start, stop, ends[start - 1] if start else 0, ends[stop - 1]


@torch.no_grad()
def encode(sae, acts_ND: torch.Tensor) -> torch.Tensor:
    out = sae.encode(acts_ND.to(sae.W_enc.device, sae.W_enc.dtype))
    return (out.to_dense() if out.is_sparse else out).float().cpu()


def compute_tables(bench, compress, site, layer, variant, spec: FeatureSpec, progress: Progress | None = None) -> FeatureTables:
    model = variant_model(bench, compress, variant)
    sae = sae_of(bench, compress, site, layer, variant)
    hook, tokens = bench.sae_hook(site, layer), _tokens(bench, spec)
    N, T = tokens.shape
    keep_NT = keep_positions(tokens, special_token_ids(model))
    flat = kept_activations(bench, compress, variant, hook, N)
    concepts = toyworld_concepts(bench, model, tokens)
    mention_kwargs = {}
    if concepts is not None:
        mention_kwargs = {"mention_tok_P": concepts["tok_P"], "mention_id_P": concepts["mention_P"], "n_mentions": concepts["n_mentions"]}
    acc = LatentAccumulator(sae.cfg.d_sae, spec.top_k, T, spec.max_nonzero, **mention_kwargs)
    for start, stop, lo, hi in chunk_rows(keep_NT, spec.batch_size):
        keep = keep_NT[start:stop]
        acts_BTF = torch.zeros(stop - start, T, sae.cfg.d_sae)
        acts_BTF[keep] = encode(sae, flat[lo:hi])  # back to (sequence, position): kept rows are row-major
        acc.update(acts_BTF, keep, start)
        report(progress, stop, N, f"features {variant.label()}")
    tables = summarize(acc, tokens, spec)
    tables.arrays.update(_logits(model, sae, site, layer, spec.n_logits))
    _describe(tables, vocabulary(bench, model), spec, acc, concepts)
    return tables


def _logits(model, sae, site: str, layer: int, k: int) -> dict[str, torch.Tensor]:
    """Direct logit effects of every decoder row, through W_O for hook_z and the final norm's scale."""
    W_dec = sae.W_dec.detach().float().cpu()
    if site == "attn":
        dirs = decoder_in_resid(W_dec, model.blocks[layer].attn.W_O.detach().float().cpu())
    elif W_dec.shape[1] == model.cfg.d_model:
        dirs = W_dec
    else:
        return {}  # a site whose output map is unknown here: no logit table rather than a wrong one
    norm = str(model.cfg.normalization_type or "")
    scale = getattr(getattr(model, "ln_final", None), "w", None)
    return logit_effects(dirs, model.W_U.detach().float().cpu(), None if scale is None else scale.detach().cpu(),
                         center=norm.startswith("LN"), k=k)


def _describe(tables: FeatureTables, vocab: list[str], spec: FeatureSpec, acc: LatentAccumulator, concepts: dict | None) -> None:
    """Labels, logit token texts and toy-world concepts as columns of the latents table."""
    centre = tables.arrays["window_tokens"][:, spec.before].long()
    labels = top_token_labels(tables.examples, centre, vocab, spec.label_tokens)
    df = tables.latents.join(labels, on="latent")
    df[["label", "top_tokens"]] = df[["label", "top_tokens"]].fillna("")
    if "pos_ids" in tables.arrays:
        shown = np.array([display_token(v) for v in vocab] + [""], dtype=object)  # id -1: writes nothing
        for side in ("pos", "neg"):
            texts = pd.DataFrame(shown[tables.arrays[f"{side}_ids"].numpy()])
            df[f"logit_{side}"] = texts.agg("|".join, axis=1).str.strip("|")
    if concepts is not None:
        p, r, f1 = concept_scores(acc.fire_MF, concepts["concept_MC"], torch.as_tensor(df["n_active"].to_numpy()))
        df = pd.concat([df, best_concepts(p, r, f1, concepts["names"], concepts["concept_MC"].sum(0))], axis=1)
        named = df["concept_f1"] >= spec.min_concept_f1
        df["name"] = df["concept"].where(named, df["label"])
    else:
        df["name"] = df["label"]
    tables.latents = df


# --- toy-world concepts (embedded default only) -----------------------------------------------------
CONCEPT_TEMPLATES = {
    "city.country": "cities in {}", "city.continent": "cities in {}", "city.language": "{}-speaking cities",
    "person.field": "people in {}", "person.country": "people from {}", "person.gender": "people ({})",
    "word.letter": "words starting with {}",
}


def concept_patterns(world: dict, tokenizer) -> tuple[list[tuple[int, ...]], torch.Tensor, list[str]]:
    """Token patterns of every entity name (with and without a leading space), [P, C] which concepts each
    pattern is about (its kind, each attribute value, the entity itself), and the concept names."""
    etype_of = {kind: etype for etype, kind in ENTITY_KIND.items()}
    index, owner = {}, {}
    for kind, ents in world["entities"].items():
        for ent in ents:
            etype = etype_of.get(kind, kind)
            # the entity and its kind are named apart from attribute values: the word "people" is not people
            concepts = [f"any {etype}", f'"{ent["name"]}" ({etype})'] + [
                CONCEPT_TEMPLATES.get(f"{etype}.{field}", field + " {}").format(value)
                for field, value in ent.items() if field != "name"]
            for text in (" " + ent["name"], ent["name"]):
                owner.setdefault(tuple(tokenizer.encode(text, add_special_tokens=False)), set()).update(concepts)
            for c in concepts:
                index.setdefault(c, len(index))
    patterns = list(owner)
    concept_PC = torch.zeros(len(patterns), len(index), dtype=torch.bool)
    for p, ids in enumerate(patterns):
        concept_PC[p, [index[c] for c in owner[ids]]] = True
    return patterns, concept_PC, list(index)


def toyworld_concepts(bench, model, tokens_NT: torch.Tensor) -> dict | None:
    """Mentions of toy-world entities in the token set and the concepts each is about (embedded default only)."""
    world = bench.world()
    if world is None or getattr(model, "tokenizer", None) is None:
        return None
    patterns, concept_PC, names = concept_patterns(world, model.tokenizer)
    start_M, length_M, pattern_M = find_mentions(tokens_NT, patterns)
    tok_P, mention_P = mention_tokens(start_M, length_M)
    return {"tok_P": tok_P, "mention_P": mention_P, "n_mentions": len(start_M), "concept_MC": concept_PC[pattern_M], "names": names}


# --- change against the reference variant -------------------------------------------------------------
def changes_key(bench, compress, site, layer, variant: VariantSpec, spec: FeatureSpec, match: MatchSpec) -> str:
    ref = reference_of(variant)
    return combine_keys("feature_changes", FEATURES_VERSION, variant_key(bench, compress, site, layer, ref), variant_key(bench, compress, site, layer, variant),
                        spec.n_sequences, spec_key(match))


def latent_changes(bench, compress: CompressSpec, site: str, layer: int, variant: VariantSpec, spec: FeatureSpec = FeatureSpec(),
                   match: MatchSpec = MatchSpec(), progress: Progress | None = None, compute: bool = True) -> pd.DataFrame | None:
    """Per latent of the variant: its partner in the reference variant (``reference_of``) and how it changed."""
    if reference_of(variant) is None:
        raise SaevizError("The dense reference is what the other variants are compared with: pick pretrained, "
                          "a pruned SAE (e.g. pruned25), pruned_best or retrained to see what compression changed.")
    key = changes_key(bench, compress, site, layer, variant, spec, match)
    frame = read_changes(bench.store, key)
    if frame is not None or not compute:
        return frame
    frame = compute_changes(bench, compress, site, layer, variant, spec, match, progress)
    bench.store.put_frame("feature_changes", key, frame, {"variant": variant.label(), "compression": compress.label(),
                                                          "site": site, "layer": layer})
    return frame


def compute_changes(bench, compress, site, layer, variant: VariantSpec, spec: FeatureSpec, match: MatchSpec,
                    progress: Progress | None = None) -> pd.DataFrame:
    ref = reference_of(variant)
    sae_ref, sae = sae_of(bench, compress, site, layer, ref), sae_of(bench, compress, site, layer, variant)
    W_ref, W = sae_ref.W_dec.detach().float().cpu(), sae.W_dec.detach().float().cpu()
    enc_removed = dec_removed = None
    if "retrained" in (variant.kind, ref.kind):  # new latents: pair them by decoder direction
        ref_G, cos_G = match_latents(W_ref, W, match)
    else:  # the same SAE, perhaps pruned: latents keep their index
        ref_G, cos_G = identity_pairs(W_ref, W)
        enc_removed = weight_removed(sae_ref.W_enc.detach().cpu(), sae.W_enc.detach().cpu(), latent_dim=1)
        dec_removed = weight_removed(W_ref, W, latent_dim=0)
    hook, tokens = bench.sae_hook(site, layer), _tokens(bench, spec)
    flat_ref = kept_activations(bench, compress, ref, hook, tokens.shape[0])
    flat = kept_activations(bench, compress, variant, hook, tokens.shape[0])
    acc = PairedAccumulator(ref_G, sae_ref.cfg.d_sae)
    step = spec.batch_size * tokens.shape[1]  # rows of about batch_size sequences
    for lo in range(0, len(flat), step):
        hi = min(lo + step, len(flat))
        acc.update(encode(sae_ref, flat_ref[lo:hi]), encode(sae, flat[lo:hi]))
        report(progress, hi, len(flat), f"changes {ref.label()} -> {variant.label()}")
    return changes_frame(ref_G, cos_G, acc, len(flat), enc_removed, dec_removed)


def ranking(bench, compress, site, layer, variant: VariantSpec, by: str, top: int = 20, spec: FeatureSpec = FeatureSpec(),
            match: MatchSpec = MatchSpec(), progress: Progress | None = None, compute: bool = True) -> pd.DataFrame | None:
    """Latents to look at first (see ``feature_diff.rank_latents``), with their labels."""
    if by != "density" and reference_of(variant) is None:  # refused before the statistics pass, not after
        raise SaevizError(f"Ranking by {by} compares with a reference: the dense variant has none. Pick pretrained, "
                          "a pruned SAE (e.g. pruned25), pruned_best or retrained, or rank by density.")
    tables = feature_tables(bench, compress, site, layer, variant, spec, progress, compute)
    if tables is None:
        return None
    if by == "density":
        changes = tables.latents[["latent", "density"]]
    else:
        changes = latent_changes(bench, compress, site, layer, variant, spec, match, progress, compute)
        if changes is None:
            return None
    ranked = rank_latents(changes, by, top).merge(tables.latents[["latent", "name"]], on="latent", how="left")
    if "ref_latent" in ranked and by != "density":  # what the latent was before (a dead latent has no name of its own)
        ref = feature_tables(bench, compress, site, layer, reference_of(variant), spec, progress, compute)
        if ref is not None:
            names = ref.latents["name"].to_numpy()
            ranked["ref_name"] = [names[i] if i >= 0 else "" for i in ranked["ref_latent"]]
    return ranked


def lost_reference_latents(bench, compress, site, layer, variant: VariantSpec, spec: FeatureSpec = FeatureSpec(),
                           match: MatchSpec = MatchSpec(), compute: bool = True) -> list[int] | None:
    """Reference latents no latent of the variant pairs with (e.g. pretrained latents retraining did not recover)."""
    changes = latent_changes(bench, compress, site, layer, variant, spec, match, compute=compute)
    ref = feature_tables(bench, compress, site, layer, reference_of(variant), spec, compute=compute)
    return None if changes is None or ref is None else unmatched_reference(changes, len(ref.latents)).tolist()


# --- one latent, as the CLI and the page show it --------------------------------------------------------
def _context(row, tokens, acts, before: int, vocab: list[str]) -> dict:
    valid = tokens >= 0  # a contiguous run: the window is only cut at the sequence's ends
    skip = int(valid.int().argmax())
    return {"seq": int(row.seq), "pos": int(row.pos), "act": float(row.act), "first_pos": int(row.pos) - before + skip,
            "center": before - skip, "tokens": [vocab[t] for t in tokens[valid].tolist()],
            "acts": [round(float(a), 5) for a in acts[valid].tolist()]}


def latent_record(tables: FeatureTables, vocab: list[str], latent: int) -> dict:
    """Everything about one latent: contexts with per-token activations, quantile samples, density,
    histogram, logit effects, label and concept. Every context names its sequence (index in the token
    set) and position, and ``first_pos`` the position of its first token."""
    n = len(tables.latents)
    if not 0 <= latent < n:
        raise SaevizError(f"Latent {latent} does not exist: this SAE has latents 0 to {n - 1}.")
    a, row = tables.arrays, tables.latents.iloc[latent]
    lo, hi = a["example_offsets"][latent].item(), a["example_offsets"][latent + 1].item()
    ex, before = tables.examples.iloc[lo:hi], int(a["before"][0])
    contexts = [_context(r, a["window_tokens"][lo + i], a["window_acts"][lo + i], before, vocab) for i, r in enumerate(ex.itertuples())]
    kinds, bands = ex["kind"].to_numpy(), ex["band"].to_numpy()
    edges = a["band_edges"][latent].tolist()
    record = {key: (val.item() if hasattr(val, "item") else val) for key, val in row.items()}
    record.update({
        "top_contexts": [c for c, k in zip(contexts, kinds) if k == "top"],
        "quantiles": [{"band": b, "low": edges[b], "high": edges[b + 1],
                       "examples": [c for c, k, cb in zip(contexts, kinds, bands) if k == "quantile" and cb == b]}
                      for b in range(len(edges) - 1)],
        "histogram": {"edges": torch.linspace(0, float(row["max_act"]), a["hist"].shape[1] + 1).tolist(),
                      "counts": a["hist"][latent].tolist()},
    })
    if "pos_ids" in a:
        record["logits"] = {side: [{"token": vocab[t], "value": round(v, 5)} for t, v in
                                   zip(a[f"{key}_ids"][latent].tolist(), a[f"{key}_vals"][latent].tolist()) if t >= 0]
                            for side, key in (("positive", "pos"), ("negative", "neg"))}
    return record


def counterpart(bench, compress, site, layer, variant: VariantSpec, latent: int, other: VariantSpec,
                spec: FeatureSpec = FeatureSpec(), match: MatchSpec = MatchSpec(), changes_of=None) -> dict:
    """The same latent in another variant, through the pretrained SAE, from the cache only (nothing computed).

    Returns {"variant", "latent" (None: unmatched or not computed), "cosine" (decoder cosine of the pair),
    "status"}. Variants derived from the pretrained SAE share its indices; a retrained SAE's latents go
    through the decoder-cosine matching stored with its changes. ``changes_of(variant)`` reads a
    variant's changes (default: from the store; the dashboard passes a memoised reader).
    """
    if changes_of is None:
        def changes_of(v):
            return latent_changes(bench, compress, site, layer, v, spec, match, compute=False)
    out = {"variant": other.label(), "latent": None, "cosine": None, "status": "ok"}
    index = latent
    if variant.kind == "retrained":
        ch = changes_of(variant)
        if ch is None:
            return {**out, "status": "matching not computed"}
        index = int(ch["ref_latent"].iloc[latent])
        if index < 0:
            return {**out, "status": f"no pretrained latent matches (best cosine {ch['cosine'].iloc[latent]:.2f})"}
    if other.kind in ("dense", "pretrained"):  # the pretrained SAE's own weights
        return {**out, "latent": index, "cosine": 1.0}
    ch = changes_of(other)
    if ch is None:
        return {**out, "status": "not computed"}
    if other.kind != "retrained":
        return {**out, "latent": index, "cosine": float(ch["cosine"].iloc[index])}
    hits = ch.index[ch["ref_latent"] == index]
    if not len(hits):
        return {**out, "status": "unmatched after retraining"}
    return {**out, "latent": int(hits[0]), "cosine": float(ch["cosine"].iloc[hits[0]])}
