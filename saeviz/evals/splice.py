"""Many SAEs spliced into one model on one token set, paying for the clean run once.

The paper's scripts (and saeviz before this module) ran, for every SAE evaluated, a clean forward pass
and a spliced forward pass from the embedding. Here, per (model variant, token set), the clean run is
done once: its next-token log-probabilities (for KL) and the residual stream entering and crossing every
block are kept. An SAE spliced in at one of the paper's sites of block l, with its reconstructions
already computed, starts *after* the hook: the spliced residual leaving block l is assembled from the
cached ones (resid_post: the reconstruction itself; mlp_out: resid_mid + reconstruction; hook_z: its
output projection, then the block's MLP), and only blocks l+1.. and the unembedding run. Other hooks,
and SAEs whose reconstructions are not given, run from the cached ``blocks.l.hook_resid_pre`` with a
hook. Zero ablation is computed once per hook.

Positions: BOS/EOS/PAD are never spliced (their activations are outliers the SAEs were not trained on),
and a next-token term counts only when both the token and the one it predicts are ordinary tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import einops
import torch

from saeviz.evals.metrics import ce_loss_score
from saeviz.model.activations import keep_positions, special_token_ids
from saeviz.model.hooks import flat_heads, hook_width, layer_of
from saeviz.resources import available_bytes

# Rows of the unembedding processed at once when computing log-sum-exp: on the CPU a chunk of logits that
# stays in the L2 cache through max, subtract, exp and sum (256 x 4,096 floats, 4 MB) is twice as fast as
# 2,048 rows; on a GPU larger chunks only bound memory.
LSE_CHUNK_TOKENS = {"cpu": 256}
LSE_CHUNK_TOKENS_DEFAULT = 8192


@dataclass
class _CleanBatch:
    tokens_BT: torch.Tensor
    keep_BT: torch.Tensor  # positions that are spliced
    kept_K: torch.Tensor  # their flat indices in [batch * pos], row-major (the rows of the flat activations)
    scored_BP: torch.Tensor  # next-token terms that count, [batch, pos-1]
    n_scored: int
    resid_pre: dict[int, torch.Tensor]  # layer -> [batch, pos, d_model] entering that block (n_layers: the final one)
    resid_mid: dict[int, torch.Tensor]  # layer -> [batch, pos, d_model] between its attention and its MLP
    ce_BP: torch.Tensor  # clean next-token CE per position
    neg_entropy_BP: torch.Tensor  # sum_v p log p of the clean distribution
    # logits are h @ W_U + b_U with h of width d_model, so the clean distribution p enters the KL only
    # through p @ W_U.T ([.., d_model]) and p . b_U: kept instead of p itself ([.., d_vocab])
    pWU_BPD: torch.Tensor
    pb_BP: torch.Tensor
    psum_BP: torch.Tensor  # sum_v p: 1 up to float rounding, which times lse (~10) would bias a small KL


def splice_hook(sae, keep_BT: torch.Tensor | None, x_hat_KD: torch.Tensor | None = None):
    """A transformer_lens hook replacing the activation by the SAE's reconstruction (zeros when sae is None)
    at kept positions; hook_z's [batch, pos, heads, d_head] is flattened for the SAE and restored.

    ``x_hat_KD``: the reconstructions of the kept positions in row-major order, when already computed (the
    activation reaching the hook is the clean one, so the reconstruction measured on cached activations is
    exactly what the splice would compute)."""

    def hook(act, hook):
        flat = flat_heads(act)
        if x_hat_KD is not None:
            new = flat.clone()
            new[keep_BT.to(flat.device)] = x_hat_KD.to(flat.device, flat.dtype)
            return new.reshape(act.shape)
        if sae is None:
            new = torch.zeros_like(flat)
        else:
            new = sae.decode(sae.encode(flat.to(sae.dtype))).to(flat.dtype)
        if keep_BT is not None:
            new = torch.where(keep_BT[..., None].to(flat.device), new, flat)
        return new.reshape(act.shape)

    return hook


def logsumexp_of_unembed(h_ND: torch.Tensor, W_U_DV: torch.Tensor, b_U_V: torch.Tensor) -> torch.Tensor:
    """[N] log-sum-exp over the vocabulary of h @ W_U + b_U, a chunk of rows at a time (max-shifted, as
    torch.logsumexp, in one reused buffer)."""
    n = h_ND.shape[0]
    chunk = min(n, LSE_CHUNK_TOKENS.get(h_ND.device.type, LSE_CHUNK_TOKENS_DEFAULT))
    out = torch.empty(n, dtype=torch.float32, device=h_ND.device)
    buffer = torch.empty(chunk, W_U_DV.shape[1], dtype=torch.float32, device=h_ND.device)
    for start in range(0, n, chunk):
        rows = h_ND[start:start + chunk]
        logits = buffer[: rows.shape[0]]
        torch.addmm(b_U_V, rows, W_U_DV, out=logits)
        top = logits.amax(-1, keepdim=True)
        out[start:start + chunk] = logits.sub_(top).exp_().sum(-1).log_().add_(top.squeeze(-1))
    return out


def next_token_terms(h_BTD: torch.Tensor, tokens_BT: torch.Tensor, W_U_DV: torch.Tensor, b_U_V: torch.Tensor,
                     pWU_BPD: torch.Tensor | None = None, pb_BP: torch.Tensor | None = None,
                     neg_entropy_BP: torch.Tensor | None = None, psum_BP: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(next-token CE [batch, pos-1], KL(clean || this) [batch, pos-1] or None) from final hidden states h.

    CE = lse - logit[target]; KL = sum_v p log p - sum_v p (logit_v - lse), where sum_v p logit_v =
    h . (p @ W_U.T) + p . b_U: only the log-sum-exp needs the full [.., d_vocab] logits.
    """
    h = h_BTD[:, :-1].float()
    b, p, d = h.shape
    lse_BP = logsumexp_of_unembed(h.reshape(-1, d), W_U_DV, b_U_V).reshape(b, p)
    targets = tokens_BT[:, 1:]
    target_logit = (h * W_U_DV.T[targets]).sum(-1) + b_U_V[targets]
    ce_BP = lse_BP - target_logit
    if pWU_BPD is None:
        return ce_BP, None
    cross_BP = (h * pWU_BPD).sum(-1) + pb_BP - lse_BP * (1.0 if psum_BP is None else psum_BP)
    return ce_BP, neg_entropy_BP - cross_BP


# the paper's three sites, by hook leaf, whose spliced residual can be assembled after the hook
_SHORTCUT_SITES = {"hook_resid_post": "resid", "hook_mlp_out": "mlp", "hook_z": "attn"}


def _sequential(cfg) -> bool:
    """Blocks that add attention, then the MLP, to the residual (resid_mid exists and is what the MLP adds to)."""
    return not cfg.attn_only and not cfg.parallel_attn_mlp


def _plain_attention(cfg) -> bool:
    """Attention whose output is its projection of hook_z added straight to the residual (no post-norm,
    no per-head results, no 4-bit weights), as in GPT-2 and Llama-style blocks."""
    # lazy: transformer_lens' list of post-norm architectures, read when a hook_z splice is assembled
    from transformer_lens.utilities.architectures import POST_NORM_ARCHITECTURES

    return (_sequential(cfg) and not cfg.use_attn_result and not cfg.load_in_4bit
            and not cfg.use_normalization_before_and_after and cfg.original_architecture not in POST_NORM_ARCHITECTURES)


def engine_applies(model) -> bool:
    """Whether the engine's shortcut holds: soft-capped logits (Gemma-2) are not linear in the final
    residual, so KL through p @ W_U.T does not hold for them and the naive path must run instead."""
    return not (getattr(model.cfg, "output_logits_soft_cap", 0) or 0) > 0


# share of a GPU's free memory the clean-run cache of one batch may take (the rest: spliced runs, SAEs)
GPU_BATCH_MEMORY_SHARE = 0.25


def engine_batch_size(cfg, seq_len: int, requested: int, free_bytes: int | None = None) -> int:
    """Sequences per clean/spliced batch. On the CPU the requested size (16 is the fastest for the
    embedded model: larger batches fall out of the caches). On a GPU, as many as a quarter of its free
    memory holds (the residuals kept per layer and the clean run's [pos, d_vocab] log-probabilities), at
    least the requested: one kernel launch per block over more rows, fewer host steps per point. The
    metrics are sums over positions: the batch size does not change them."""
    if not str(cfg.device).startswith("cuda"):
        return requested
    free = available_bytes(str(cfg.device)) if free_bytes is None else free_bytes
    per_seq = 4 * seq_len * ((2 * cfg.n_layers + 2) * cfg.d_model + 3 * cfg.d_vocab)
    return max(requested, int(GPU_BATCH_MEMORY_SHARE * free) // per_seq)


class SpliceEngine:
    """Clean-run cache for one model on one token set; evaluate any SAE at any hook against it."""

    def __init__(self, model, tokens_NT: torch.Tensor, batch_size: int = 16):
        if not engine_applies(model):
            raise NotImplementedError("logit soft-capping: use saeviz.evals.measure.naive_downstream for this model")
        self.model, self.tokens_NT = model, tokens_NT
        self.batch_size = engine_batch_size(model.cfg, tokens_NT.shape[-1], batch_size)
        self.special = special_token_ids(model)
        self._batches: list[_CleanBatch] | None = None
        self._zero: dict[str, dict[str, float]] = {}
        self._model_ce_sum, self._model_ce_count = 0.0, 0
        self.forward_passes = 0  # counted so tests can prove what is reused
        self.blocks_run = 0  # transformer blocks run by spliced passes (the shortcut skips those before the hook)

    @property
    def _unembed(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.W_U.float(), self.model.b_U.float()

    def _final_hidden(self, residual_BTD: torch.Tensor) -> torch.Tensor:
        return self.model.ln_final(residual_BTD) if self.model.cfg.normalization_type is not None else residual_BTD

    # --- the clean run, once ------------------------------------------------------------------
    @torch.inference_mode()
    def _clean(self, tokens_BT: torch.Tensor) -> _CleanBatch:
        model = self.model
        tokens_BT = tokens_BT.to(model.cfg.device)
        n = model.cfg.n_layers
        names = [f"blocks.{layer}.hook_resid_pre" for layer in range(n)]
        mids = [f"blocks.{layer}.hook_resid_mid" for layer in range(n)] if _sequential(model.cfg) else []
        final, cache = model.run_with_cache(tokens_BT, names_filter=names + mids, stop_at_layer=n)
        self.forward_passes += 1
        W_U, b_U = self._unembed
        h = self._final_hidden(final)[:, :-1].float()
        logp = torch.addmm(b_U, h.flatten(0, 1), W_U).log_softmax(-1)  # [B*P, V], this batch only
        p = logp.exp()
        keep = keep_positions(tokens_BT, self.special)
        shape = h.shape[:2]
        ce_all = -logp.gather(-1, tokens_BT[:, 1:].reshape(-1, 1)).reshape(shape)
        self._model_ce_sum += float(ce_all.double().sum())
        self._model_ce_count += ce_all.numel()
        scored = keep[:, :-1] & keep[:, 1:]
        return _CleanBatch(
            tokens_BT=tokens_BT, keep_BT=keep, kept_K=keep.flatten().nonzero().squeeze(-1),
            scored_BP=scored, n_scored=int(scored.sum()),
            resid_pre={**{layer: cache[name] for layer, name in enumerate(names)}, n: final},
            resid_mid={layer: cache[name] for layer, name in enumerate(mids)},
            ce_BP=ce_all,
            neg_entropy_BP=(p * logp).sum(-1).reshape(shape),
            pWU_BPD=(p @ W_U.T).reshape(*shape, -1), pb_BP=(p @ b_U).reshape(shape), psum_BP=p.sum(-1).reshape(shape),
        )

    def batches(self) -> list[_CleanBatch]:
        if self._batches is None:
            self._batches = [self._clean(self.tokens_NT[i:i + self.batch_size])
                             for i in range(0, self.tokens_NT.shape[0], self.batch_size)]
        return self._batches

    # --- spliced runs ------------------------------------------------------------------------
    @torch.inference_mode()
    def _spliced_hidden(self, batch: _CleanBatch, hook_name: str, sae, x_hat_KD: torch.Tensor | None = None) -> torch.Tensor:
        model, layer = self.model, layer_of(hook_name)
        self.forward_passes += 1
        if x_hat_KD is not None or sae is None:
            leaving = self._residual_after(batch, hook_name, x_hat_KD)
            if leaving is not None:
                return self._final_hidden(self._blocks_from(leaving, layer + 1))
        hooks = [(hook_name, splice_hook(sae, batch.keep_BT, x_hat_KD))]
        self.blocks_run += model.cfg.n_layers - (layer or 0)
        if layer is None:  # a hook outside the blocks (e.g. hook_embed): run from the tokens
            final = model.run_with_hooks(batch.tokens_BT, stop_at_layer=model.cfg.n_layers, fwd_hooks=hooks)
        else:
            final = model.run_with_hooks(batch.resid_pre[layer], start_at_layer=layer, stop_at_layer=model.cfg.n_layers,
                                         fwd_hooks=hooks)
        return self._final_hidden(final)

    def _blocks_from(self, resid_BPD: torch.Tensor, layer: int) -> torch.Tensor:
        """The residual stream after the last block, from the one entering block ``layer``."""
        n = self.model.cfg.n_layers
        if layer >= n:
            return resid_BPD
        self.blocks_run += n - layer
        return self.model(resid_BPD, start_at_layer=layer, stop_at_layer=n)

    def _residual_after(self, batch: _CleanBatch, hook_name: str, x_hat_KD: torch.Tensor | None) -> torch.Tensor | None:
        """The residual leaving the hook's block with ``x_hat_KD`` (zeros when None) at the kept positions,
        built from the clean run without running anything before the hook; None where no shortcut applies."""
        layer, cfg = layer_of(hook_name), self.model.cfg
        site = _SHORTCUT_SITES.get(hook_name.rsplit(".", 1)[-1]) if layer is not None else None
        if site is None or (site != "resid" and not batch.resid_mid) or (site == "attn" and not _plain_attention(cfg)):
            return None
        kept = batch.kept_K
        width = hook_width(cfg, hook_name)
        x_hat = (torch.zeros(kept.numel(), width, dtype=cfg.dtype, device=kept.device) if x_hat_KD is None
                 else x_hat_KD.to(kept.device, cfg.dtype))

        def flat(t):
            return t.reshape(-1, t.shape[-1])

        if site == "resid":
            out = batch.resid_pre[layer + 1].clone()
            flat(out).index_copy_(0, kept, x_hat)
            return out
        if site == "mlp":  # the block adds its MLP's output to resid_mid
            out = batch.resid_pre[layer + 1].clone()
            flat(out).index_copy_(0, kept, flat(batch.resid_mid[layer])[kept] + x_hat)
            return out
        block = self.model.blocks[layer]  # hook_z: the attention's output projection, then the block's MLP
        W_O = einops.rearrange(block.attn.W_O, "h e d -> d (h e)")
        mid = batch.resid_mid[layer].clone()
        attn_out = torch.nn.functional.linear(x_hat, W_O, block.attn.b_O)
        flat(mid).index_copy_(0, kept, flat(batch.resid_pre[layer])[kept] + attn_out)
        return mid + block.apply_mlp(block.ln2(mid))

    @torch.inference_mode()
    def _run(self, hook_name: str, sae, x_hat_ND: torch.Tensor | None = None) -> dict[str, float]:
        # sums stay on the model's device (float64) until the end: no host round trip per batch
        W_U, b_U = self._unembed
        sums = torch.zeros(3, dtype=torch.float64, device=W_U.device)  # ce, kl, ce_clean
        count, offset = 0, 0
        for batch in self.batches():
            n_kept = batch.kept_K.numel()
            x_hat = None if x_hat_ND is None else x_hat_ND[offset:offset + n_kept]
            offset += n_kept
            h = self._spliced_hidden(batch, hook_name, sae, x_hat)
            ce, kl = next_token_terms(h, batch.tokens_BT, W_U, b_U, batch.pWU_BPD, batch.pb_BP, batch.neg_entropy_BP,
                                     batch.psum_BP)
            s = batch.scored_BP
            sums += torch.stack([t.double().where(s, 0.0).sum() for t in (ce, kl, batch.ce_BP)])
            count += batch.n_scored
        ce, kl, ce_clean = (sums / count).tolist()
        return {"ce": ce, "kl": kl, "ce_clean": ce_clean}

    def zero_ablation(self, hook_name: str) -> dict[str, float]:
        """CE and KL with the hook's activation zeroed at ordinary positions (memoised per hook)."""
        if hook_name not in self._zero:
            self._zero[hook_name] = self._run(hook_name, None)
        return self._zero[hook_name]

    def model_ce(self) -> float:
        """The clean model's mean next-token CE over every predicted position (saeviz.model.loss.ce_loss's
        definition), from the clean run the splices need anyway."""
        self.batches()
        return self._model_ce_sum / self._model_ce_count

    def n_kept(self) -> int:
        """Ordinary positions of the token set: the rows of its flat activations."""
        return sum(b.kept_K.numel() for b in self.batches())

    def evaluate(self, hook_name: str, sae, x_hat_ND: torch.Tensor | None = None) -> dict[str, float]:
        """The paper's downstream metrics for one SAE (sae_bench's names, saeviz's position rules).

        ``x_hat_ND``: the SAE's reconstructions of this token set's flat activations at the hook (kept
        positions, row-major), when already computed: the splice then skips the SAE."""
        if x_hat_ND is not None and x_hat_ND.shape[0] != self.n_kept():
            raise ValueError(f"x_hat has {x_hat_ND.shape[0]} rows but the token set has {self.n_kept()} ordinary positions.")
        got, zero = self._run(hook_name, sae, x_hat_ND), self.zero_ablation(hook_name)
        return downstream_scores(got["ce_clean"], got["ce"], zero["ce"], got["kl"], zero["kl"])


def downstream_scores(ce_clean: float, ce_sae: float, ce_zero: float, kl_sae: float, kl_zero: float) -> dict[str, float]:
    """CE / KL with the SAE, without it and with zero ablation, and the two normalised scores
    (1 = the SAE loses nothing, 0 = as bad as zeroing the activation)."""
    nan = float("nan")
    return {
        "ce_loss_without_sae": ce_clean, "ce_loss_with_sae": ce_sae, "ce_loss_with_ablation": ce_zero,
        "ce_loss_score": ce_loss_score(ce_clean, ce_sae, ce_zero),
        "kl_div_with_sae": kl_sae, "kl_div_with_ablation": kl_zero,
        "kl_div_score": (kl_zero - kl_sae) / kl_zero if kl_zero else nan,
    }
