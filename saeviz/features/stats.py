"""Per-latent statistics of one SAE over a token set, every latent at once: the feature browser's data.

One pass over the tokens feeds a ``LatentAccumulator`` chunk by chunk (memory is bounded by the chunk,
not by tokens x latents): it keeps a running top-k of each latent's per-sequence maxima and every
non-zero activation as sparse (token, latent, value) triples (an SAE is sparse: 48 active latents
per token on the embedded default, about 3 M triples for its 65 k evaluation tokens). ``summarize``
then derives everything from those triples with sorts and scatters, without a loop over latents:
density, mean and max, histograms, exact quantile bands and their samples, and the token windows
around every example with each token's activation of that latent. Every example keeps its sequence
index in the token set and its position, so every number can be traced back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from saeviz.errors import SaevizError
from saeviz.specs import _help


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature browser computes for each latent of an SAE variant."""

    n_sequences: int | None = _help("Evaluation sequences read (None: the whole evaluation split).", default=None)
    batch_size: int = _help("Sequences per forward pass (bounds memory: batch x seq_len x d_sae floats).", default=32)
    top_k: int = _help("Top activating contexts kept per latent (at most one per sequence).", default=20)
    before: int = _help("Tokens shown before the activating token.", default=12)
    after: int = _help("Tokens shown after the activating token.", default=4)
    n_bands: int = _help("Quantile bands of the non-zero activations sampled (so weak activations show too).", default=5)
    per_band: int = _help("Examples per quantile band, at evenly spaced ranks within the band.", default=5)
    n_bins: int = _help("Bins of the histogram of non-zero activations, from 0 to the latent's max.", default=40)
    n_logits: int = _help("Top positive and negative tokens of the latent's direct logit effect.", default=10)
    label_tokens: int = _help("Top tokens (by summed activation over top contexts) a latent's label names.", default=3)
    min_concept_f1: float = _help("F1 a toy-world concept needs to name the latent in its label.", default=0.3)
    max_nonzero: int = _help("Most non-zero activations held in memory; lower n_sequences for very dense SAEs.",
                             default=60_000_000)

    def __post_init__(self):
        if self.n_sequences is not None and self.n_sequences < 1:
            raise ValueError(f"n_sequences={self.n_sequences}: read at least 1 sequence, or None for the whole split.")
        for name in ("batch_size", "top_k", "n_bands", "per_band", "n_bins", "n_logits", "label_tokens", "max_nonzero"):
            if getattr(self, name) < 1:
                raise ValueError(f"FeatureSpec.{name}={getattr(self, name)} must be at least 1.")
        if self.before < 0 or self.after < 0:
            raise ValueError("FeatureSpec.before and .after are token counts: use 0 or more.")
        if not 0 <= self.min_concept_f1 <= 1:
            raise ValueError(f"min_concept_f1={self.min_concept_f1}: use a value in [0, 1].")

    @property
    def window(self) -> int:
        return self.before + 1 + self.after


class LatentAccumulator:
    """Running state of one pass over [batch, pos, d_sae] activations.

    ``mention_tok_P``/``mention_id_P`` (optional, sorted by token) say which global token indices
    (seq * seq_len + pos) belong to which entity mention; per mention and latent the number of
    firing tokens is counted, for concept precision/recall (``concept_scores``).
    """

    def __init__(self, d_sae: int, top_k: int, seq_len: int, max_nonzero: int = 60_000_000,
                 mention_tok_P: torch.Tensor | None = None, mention_id_P: torch.Tensor | None = None, n_mentions: int = 0):
        self.d_sae, self.top_k, self.seq_len, self.max_nonzero = d_sae, top_k, seq_len, max_nonzero
        self.top_val_FK = torch.zeros(d_sae, 0)
        self.top_seq_FK = torch.zeros(d_sae, 0, dtype=torch.long)
        self.top_pos_FK = torch.zeros(d_sae, 0, dtype=torch.long)
        self._tok, self._lat, self._val, self.n_nonzero = [], [], [], 0
        self.n_kept = 0
        self.mention_tok_P = mention_tok_P if mention_tok_P is not None else torch.zeros(0, dtype=torch.long)
        self.mention_id_P = mention_id_P if mention_id_P is not None else torch.zeros(0, dtype=torch.long)
        self.fire_MF = torch.zeros(n_mentions, d_sae)

    @torch.no_grad()
    def update(self, acts_BTF: torch.Tensor, keep_BT: torch.Tensor, seq_offset: int) -> None:
        """Add one chunk: sequences seq_offset .. seq_offset + B of the token set."""
        B, T, F = acts_BTF.shape
        if T != self.seq_len or F != self.d_sae:
            raise ValueError(f"chunk of shape {tuple(acts_BTF.shape)} does not match seq_len {self.seq_len}, d_sae {F}.")
        # special positions (BOS/EOS) are outliers that say nothing about a latent: they count as silent
        acts_BTF = torch.where(keep_BT.to(acts_BTF.device)[..., None], acts_BTF.float(), 0.0).cpu()
        self._merge_top(acts_BTF, seq_offset)
        flat_NF = acts_BTF.reshape(B * T, F)
        row, lat = flat_NF.nonzero(as_tuple=True)
        self.n_nonzero += row.numel()
        if self.n_nonzero > self.max_nonzero:
            raise SaevizError(f"More than {self.max_nonzero:,} non-zero activations: this SAE is too dense to hold them all; "
                              "lower FeatureSpec.n_sequences (or raise max_nonzero if memory allows).")
        self._tok.append(row + seq_offset * T)
        self._lat.append(lat)
        self._val.append(flat_NF[row, lat])
        self._count_mentions(flat_NF, seq_offset * T, (seq_offset + B) * T)
        self.n_kept += int(keep_BT.sum())

    def _merge_top(self, acts_BTF: torch.Tensor, seq_offset: int) -> None:
        B = acts_BTF.shape[0]
        seqmax_BF, argpos_BF = acts_BTF.max(dim=1)
        seqs_FB = (torch.arange(B) + seq_offset).expand(self.d_sae, B)
        val = torch.cat([self.top_val_FK, seqmax_BF.T], dim=1)
        seq = torch.cat([self.top_seq_FK, seqs_FB], dim=1)
        pos = torch.cat([self.top_pos_FK, argpos_BF.T], dim=1)
        self.top_val_FK, idx = val.topk(min(self.top_k, val.shape[1]), dim=1)
        self.top_seq_FK, self.top_pos_FK = seq.gather(1, idx), pos.gather(1, idx)

    def _count_mentions(self, flat_NF: torch.Tensor, start: int, end: int) -> None:
        if not len(self.mention_tok_P):
            return
        lo, hi = torch.searchsorted(self.mention_tok_P, torch.tensor([start, end])).tolist()
        if hi > lo:
            fires_PF = (flat_NF[self.mention_tok_P[lo:hi] - start] > 0).float()
            self.fire_MF.index_add_(0, self.mention_id_P[lo:hi], fires_PF)

    def triples(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(global token index, latent, value) of every non-zero activation."""
        if not self._tok:
            empty = torch.zeros(0, dtype=torch.long)
            return empty, empty, torch.zeros(0)
        return torch.cat(self._tok), torch.cat(self._lat), torch.cat(self._val)


@dataclass
class FeatureTables:
    """Everything the browser shows for one SAE variant.

    latents: one row per latent (density, mean/max, label, ...); examples: one row per shown context
    (latent, kind 'top'|'quantile', band, rank, seq, pos, act), sorted by latent, row i matching row i of
    arrays['window_tokens'] / ['window_acts'] ([E, window], token -1 outside the sequence);
    arrays['example_offsets'] [F+1] slices a latent's rows; arrays['hist'] [F, n_bins] counts of non-zero
    activations in bins of width max/n_bins; arrays['band_edges'] [F, n_bands+1] quantiles of the non-zero
    activations; logit arrays [F, n_logits] (when computed).
    """

    latents: pd.DataFrame
    examples: pd.DataFrame
    arrays: dict[str, torch.Tensor]


def float_order_key(val_N: torch.Tensor) -> torch.Tensor:
    """int64 in [0, 2^32) ordered as the float32 values are (IEEE bits, negative values flipped)."""
    bits = val_N.float().contiguous().view(torch.int32).long()
    return torch.where(bits >= 0, bits + 2**31, -bits - 1)


def sort_by_latent(lat_N: torch.Tensor, val_N: torch.Tensor) -> torch.Tensor:
    """Order of the triples by (latent, value) ascending: each latent's values form a sorted segment.
    One int64 sort on latent * 2^32 + the value's order key (twice as fast as two stable sorts)."""
    return torch.sort(lat_N.long() * 2**32 + float_order_key(val_N)).indices


def histogram_FB(lat_N: torch.Tensor, val_N: torch.Tensor, max_F: torch.Tensor, n_bins: int) -> torch.Tensor:
    """[F, n_bins] counts of non-zero values in bins (max*b/n, max*(b+1)/n]: bin b holds values up to its upper edge."""
    F = max_F.shape[0]
    scale = torch.where(max_F > 0, max_F, 1.0)[lat_N]
    bins = (torch.ceil(val_N / scale * n_bins).long() - 1).clamp(0, n_bins - 1)
    return torch.bincount(lat_N * n_bins + bins, minlength=F * n_bins).view(F, n_bins)


def quantile_ranks(count_F: torch.Tensor, n_bands: int, per_band: int) -> torch.Tensor:
    """[F, n_bands, per_band] ranks (0 = weakest non-zero activation) at evenly spaced points of each quantile band."""
    points_BJ = (torch.arange(n_bands)[:, None] + (torch.arange(per_band)[None, :] + 0.5) / per_band) / n_bands
    ranks = torch.floor(points_BJ[None] * count_F[:, None, None].double()).long()
    return torch.minimum(ranks, (count_F - 1).clamp(min=0)[:, None, None])


def band_edges_FB(sorted_val: torch.Tensor, offset_F: torch.Tensor, count_F: torch.Tensor, n_bands: int) -> torch.Tensor:
    """[F, n_bands + 1]: the value at rank floor(b * n / n_bands) for b < n_bands, then the max (0 for silent latents)."""
    if not len(sorted_val):
        return torch.zeros(len(count_F), n_bands + 1)
    b = torch.arange(n_bands + 1)
    ranks = torch.minimum(torch.div(b[None] * count_F[:, None], n_bands, rounding_mode="floor"), (count_F - 1)[:, None])
    edges = sorted_val[(offset_F[:, None] + ranks.clamp(min=0)).clamp(max=len(sorted_val) - 1)]
    return torch.where(count_F[:, None] > 0, edges, 0.0)


def window_activations(key_sorted: torch.Tensor, val_by_key: torch.Tensor, lat_E: torch.Tensor, tok_EW: torch.Tensor,
                       n_tokens: int) -> torch.Tensor:
    """[E, W] activation of latent lat_E[e] at global token tok_EW[e, w] (0 where it is silent or tok < 0)."""
    query = lat_E[:, None] * n_tokens + tok_EW.clamp(min=0)
    if not len(key_sorted):
        return torch.zeros(query.shape)
    idx = torch.searchsorted(key_sorted, query).clamp(max=len(key_sorted) - 1)
    found = (key_sorted[idx] == query) & (tok_EW >= 0)
    return torch.where(found, val_by_key[idx], 0.0)


def _examples(acc: LatentAccumulator, sorted_tok, sorted_val, offset_F, count_F, spec: FeatureSpec) -> pd.DataFrame:
    F, K = acc.top_val_FK.shape
    top = pd.DataFrame({
        "latent": torch.arange(F).repeat_interleave(K).numpy(), "kind": "top", "band": -1,
        "rank": torch.arange(K).repeat(F).numpy(), "seq": acc.top_seq_FK.flatten().numpy(),
        "pos": acc.top_pos_FK.flatten().numpy(), "act": acc.top_val_FK.flatten().numpy()})
    top = top[top["act"] > 0]
    ranks_FBJ = quantile_ranks(count_F, spec.n_bands, spec.per_band)
    idx = (offset_F[:, None, None] + ranks_FBJ).flatten().clamp(max=max(len(sorted_tok) - 1, 0))
    shape = ranks_FBJ.shape
    tok = sorted_tok[idx] if len(sorted_tok) else torch.zeros_like(idx)
    quant = pd.DataFrame({
        "latent": torch.arange(F)[:, None, None].expand(shape).flatten().numpy(), "kind": "quantile",
        "band": torch.arange(spec.n_bands)[None, :, None].expand(shape).flatten().numpy(),
        "rank": ranks_FBJ.flatten().numpy(), "seq": (tok // acc.seq_len).numpy(), "pos": (tok % acc.seq_len).numpy(),
        "act": sorted_val[idx].numpy() if len(sorted_val) else 0.0})
    quant = quant[count_F[quant["latent"].to_numpy()].numpy() > 0]
    # a latent with fewer non-zero activations than samples would repeat a rank: keep each once
    quant = quant.drop_duplicates(["latent", "rank"])
    df = pd.concat([top, quant], ignore_index=True)
    df["order"] = df["kind"].map({"top": 0, "quantile": 1})
    df = df.sort_values(["latent", "order", "band", "rank"], kind="stable").drop(columns="order").reset_index(drop=True)
    return df.astype({"latent": "int32", "band": "int16", "rank": "int64", "seq": "int64", "pos": "int32", "act": "float32"})


@torch.no_grad()
def summarize(acc: LatentAccumulator, tokens_NT: torch.Tensor, spec: FeatureSpec) -> FeatureTables:
    """Every latent's statistics and examples from a finished pass (tokens_NT: the token set it read)."""
    tok_N, lat_N, val_N = acc.triples()
    F, T = acc.d_sae, acc.seq_len
    n_tokens = tokens_NT.shape[0] * T
    count_F = torch.bincount(lat_N, minlength=F)
    sum_F = torch.zeros(F).index_add_(0, lat_N, val_N)
    max_F = torch.zeros(F).scatter_reduce_(0, lat_N, val_N, "amax")
    order = sort_by_latent(lat_N, val_N)
    sorted_tok, sorted_val = tok_N[order], val_N[order]
    offset_F = torch.cumsum(count_F, 0) - count_F
    examples = _examples(acc, sorted_tok, sorted_val, offset_F, count_F, spec)

    key_N = lat_N * n_tokens + tok_N
    key_sorted, by_key = torch.sort(key_N)
    lat_E = torch.as_tensor(examples["latent"].to_numpy(), dtype=torch.long)
    seq_E = torch.as_tensor(examples["seq"].to_numpy())
    cols_EW = torch.as_tensor(examples["pos"].to_numpy(), dtype=torch.long)[:, None] + torch.arange(-spec.before, spec.after + 1)
    inside = (cols_EW >= 0) & (cols_EW < T)
    window_tokens = torch.where(inside, tokens_NT[seq_E[:, None], cols_EW.clamp(0, T - 1)].long(), -1)
    tok_EW = torch.where(inside, seq_E[:, None] * T + cols_EW, -1)
    window_acts = window_activations(key_sorted, val_N[by_key], lat_E, tok_EW, n_tokens)

    n_kept = max(acc.n_kept, 1)
    latents = pd.DataFrame({
        "latent": torch.arange(F).numpy(), "n_active": count_F.numpy(), "density": (count_F / n_kept).numpy(),
        "mean_active": torch.where(count_F > 0, sum_F / count_F.clamp(min=1), 0.0).numpy(),
        "mean_all": (sum_F / n_kept).numpy(), "max_act": max_F.numpy()})
    counts_per_latent = torch.bincount(lat_E, minlength=F)
    arrays = {
        "window_tokens": window_tokens.int(), "window_acts": window_acts.float(),
        "example_offsets": torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts_per_latent, 0)]),
        "hist": histogram_FB(lat_N, val_N, max_F, spec.n_bins), "band_edges": band_edges_FB(sorted_val, offset_F, count_F, spec.n_bands),
        "n_kept": torch.tensor([acc.n_kept]), "before": torch.tensor([spec.before]),
    }
    return FeatureTables(latents, examples, arrays)


# --- what a latent writes: direct logit effects ----------------------------------------------------
def decoder_in_resid(W_dec_FD: torch.Tensor, W_O_HED: torch.Tensor | None = None) -> torch.Tensor:
    """[F, d_model] decoder directions in the residual stream; hook_z latents ([F, heads*d_head]) go through W_O."""
    if W_O_HED is None:
        return W_dec_FD
    H, E, _ = W_O_HED.shape
    return torch.einsum("fhe,hed->fd", W_dec_FD.reshape(-1, H, E), W_O_HED)


@torch.no_grad()
def logit_effects(dirs_FD: torch.Tensor, W_U_DV: torch.Tensor, ln_scale_D: torch.Tensor | None = None,
                  center: bool = False, k: int = 10, chunk: int = 2048) -> dict[str, torch.Tensor]:
    """Top-k positive and negative tokens of each latent's direct logit effect ``dir @ W_U``.

    The direction first passes what the final norm does to a direction: centring (LayerNorm, not
    RMSNorm) and the per-dimension scale. The norm's division by the residual's size is left out (it
    depends on the token), so values compare latents' directions, not absolute logit changes.
    Returns pos_ids/pos_vals/neg_ids/neg_vals [F, k] (neg_vals are the most negative values, ascending);
    a latent whose decoder row is all zero (pruned away) writes nothing: its ids are -1.
    """
    dirs = dirs_FD.float()
    if center:
        dirs = dirs - dirs.mean(dim=-1, keepdim=True)
    if ln_scale_D is not None:
        dirs = dirs * ln_scale_D.float()
    k = min(k, W_U_DV.shape[1])
    parts = {"pos_ids": [], "pos_vals": [], "neg_ids": [], "neg_vals": []}
    for start in range(0, dirs.shape[0], chunk):  # bounds memory at chunk x vocab, not F x vocab
        logits = dirs[start : start + chunk] @ W_U_DV.float()
        pos, neg = logits.topk(k, dim=1), logits.topk(k, dim=1, largest=False)
        parts["pos_ids"].append(pos.indices), parts["pos_vals"].append(pos.values)
        parts["neg_ids"].append(neg.indices), parts["neg_vals"].append(neg.values)
    out = {name: torch.cat(chunks).cpu() for name, chunks in parts.items()}
    silent = (dirs_FD == 0).all(dim=1).cpu()[:, None]
    for side in ("pos", "neg"):
        out[f"{side}_ids"] = torch.where(silent, -1, out[f"{side}_ids"])
    return out


def display_token(text: str) -> str:
    """A token as a label shows it: surrounding spaces dropped, invisible ones written out."""
    return text.strip() or repr(text)


def top_token_labels(examples: pd.DataFrame, center_token_E: torch.Tensor, vocab: list[str], n: int,
                     n_search: int = 10) -> pd.DataFrame:
    """Per latent: `label` (its n top tokens joined by ' / ') and `top_tokens` (up to n_search, '|'-joined).

    A latent's top tokens are the tokens it fires on in its top contexts, ranked by summed activation.
    center_token_E: the activating token of every example row.
    """
    top = examples["kind"].to_numpy() == "top"
    df = pd.DataFrame({"latent": examples["latent"].to_numpy()[top], "token": center_token_E.numpy()[top],
                       "act": examples["act"].to_numpy()[top]})
    ranked = df.groupby(["latent", "token"], sort=False)["act"].sum().reset_index()
    ranked = ranked.sort_values(["latent", "act"], ascending=[True, False], kind="stable")
    ranked = ranked.groupby("latent").head(n_search)
    shown = np.array([display_token(v) for v in vocab] + ["?"], dtype=object)  # index -1 (outside the vocabulary): "?"
    tokens = ranked["token"].to_numpy()
    ranked["text"] = shown[np.where((tokens >= 0) & (tokens < len(vocab)), tokens, -1)]
    first = ranked.groupby("latent").cumcount() < n
    return pd.DataFrame({"label": ranked[first].groupby("latent")["text"].agg(" / ".join),
                         "top_tokens": ranked.groupby("latent")["text"].agg("|".join)})


# --- toy-world concepts: which attribute value a latent fires for ------------------------------------
def _window_hash(windows_NL: torch.Tensor) -> torch.Tensor:
    """A polynomial hash of each row mod a prime below 2^31 (products stay inside int64)."""
    prime, base = 2_147_483_629, 1_000_003
    h = torch.zeros(windows_NL.shape[0], dtype=torch.long)
    for i in range(windows_NL.shape[1]):  # over the pattern length (a few tokens), not over tokens
        h = (h * base + windows_NL[:, i] + 1) % prime
    return h


def find_mentions(tokens_NT: torch.Tensor, patterns: list[tuple[int, ...]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every occurrence of every token pattern: (global start token seq*T+pos, length, pattern index) [M].

    Windows of each pattern length are hashed and looked up among the patterns' hashes; every hit is
    then checked token by token, so a hash collision can never produce a false mention.
    """
    N, T = tokens_NT.shape
    starts, lengths, pids = [], [], []
    for L in sorted({len(p) for p in patterns if 0 < len(p) <= T}):
        ids = torch.tensor([i for i, p in enumerate(patterns) if len(p) == L])
        pats = torch.tensor([patterns[i] for i in ids.tolist()], dtype=torch.long)
        windows = tokens_NT.long().unfold(1, L, 1).reshape(-1, L)
        pat_hash, order = torch.sort(_window_hash(pats))
        win_hash = _window_hash(windows)
        slot = torch.searchsorted(pat_hash, win_hash).clamp(max=len(pat_hash) - 1)
        rows = (pat_hash[slot] == win_hash).nonzero(as_tuple=True)[0]
        rows = rows[(windows[rows] == pats[order[slot[rows]]]).all(dim=1)]
        per_seq = T - L + 1
        starts.append(rows // per_seq * T + rows % per_seq), lengths.append(torch.full_like(rows, L))
        pids.append(ids[order[slot[rows]]])
    if not starts:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty, empty
    return drop_nested(torch.cat(starts), torch.cat(lengths), torch.cat(pids))


def drop_nested(start_M: torch.Tensor, length_M: torch.Tensor, pid_M: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Keep only mentions not inside another one ('Paris' inside ' Paris'), sorted by start: a token then
    counts once per entity it names."""
    order = torch.argsort(start_M * (int(length_M.max()) + 1 if len(length_M) else 1) - length_M)  # start, longest first
    start, length, pid = start_M[order], length_M[order], pid_M[order]
    end = start + length
    before = torch.cat([torch.full((1,), -1, dtype=end.dtype), torch.cummax(end, 0).values[:-1]]) if len(end) else end
    keep = before < end
    return start[keep], length[keep], pid[keep]


def mention_tokens(start_M: torch.Tensor, length_M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(global token index, mention index) [P] for every token of every mention, sorted by token."""
    mention_P = torch.arange(len(start_M)).repeat_interleave(length_M)
    first_P = (torch.cumsum(length_M, 0) - length_M).repeat_interleave(length_M)
    tok_P = start_M[mention_P] + torch.arange(len(mention_P)) - first_P
    order = torch.argsort(tok_P, stable=True)
    return tok_P[order], mention_P[order]


def concept_scores(fire_MF: torch.Tensor, concept_MC: torch.Tensor, count_F: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """[F, C] precision, recall and F1 of each latent for each concept.

    fire_MF: firing tokens of latent f within mention m; concept_MC: mention m is about concept c.
    precision: share of the latent's firing tokens that lie in a mention of c; recall: share of c's
    mentions on which the latent fires at least once.
    """
    MC = concept_MC.float()
    precision = ((fire_MF.T @ MC) / count_F.clamp(min=1)[:, None].float()).clamp(max=1.0)
    recall = ((fire_MF > 0).float().T @ MC) / MC.sum(0).clamp(min=1)
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), 0.0)
    return precision, recall, f1


def best_concepts(precision_FC, recall_FC, f1_FC, names: list[str], n_mentions_C: torch.Tensor, min_mentions: int = 3) -> pd.DataFrame:
    """Per latent, the concept of highest F1 among concepts with at least min_mentions mentions."""
    f1 = torch.where((n_mentions_C >= min_mentions)[None], f1_FC, -1.0)
    best = f1.argmax(dim=1)
    rows = torch.arange(len(best))
    ok = f1[rows, best] > 0
    return pd.DataFrame({"concept": [names[c] if good else "" for c, good in zip(best.tolist(), ok.tolist())],
                         "concept_precision": torch.where(ok, precision_FC[rows, best], 0.0).numpy(),
                         "concept_recall": torch.where(ok, recall_FC[rows, best], 0.0).numpy(),
                         "concept_f1": torch.where(ok, f1_FC[rows, best], 0.0).numpy()})
