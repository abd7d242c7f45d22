"""Many SAEs spliced into one model on one token set, paying for the clean run once.

The paper's scripts (and saeviz before this module) ran, for every SAE evaluated, a clean forward pass
and a spliced forward pass from the embedding. Here, per (model variant, token set), the clean run is
done once: its next-token log-probabilities (for KL) and the residual stream entering every block are
kept. An SAE spliced in at a hook of block l then runs only blocks l.. and the unembedding, starting
from the cached ``blocks.l.hook_resid_pre``. Zero ablation is computed once per hook.

Positions: BOS/EOS/PAD are never spliced (their activations are outliers the SAEs were not trained on),
and a next-token term counts only when both the token and the one it predicts are ordinary tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saeviz.evals.metrics import ce_loss_score
from saeviz.model.activations import keep_positions, special_token_ids
from saeviz.model.hooks import flat_heads, layer_of

# Rows of the unembedding processed at once when computing log-sum-exp (bounds the logits in memory).
LSE_CHUNK_TOKENS = 2048


@dataclass
class _CleanBatch:
    tokens_BT: torch.Tensor
    keep_BT: torch.Tensor  # positions that are spliced
    scored_BP: torch.Tensor  # next-token terms that count, [batch, pos-1]
    resid_pre: dict[int, torch.Tensor]  # layer -> [batch, pos, d_model] entering that block
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
    """[N] log-sum-exp over the vocabulary of h @ W_U + b_U, a chunk of rows at a time."""
    out = torch.empty(h_ND.shape[0], dtype=torch.float32, device=h_ND.device)
    for start in range(0, h_ND.shape[0], LSE_CHUNK_TOKENS):
        logits = torch.addmm(b_U_V, h_ND[start:start + LSE_CHUNK_TOKENS], W_U_DV)
        out[start:start + LSE_CHUNK_TOKENS] = logits.logsumexp(-1)
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


def engine_applies(model) -> bool:
    """Whether the engine's shortcut holds: soft-capped logits (Gemma-2) are not linear in the final
    residual, so KL through p @ W_U.T does not hold for them and the naive path must run instead."""
    return not (getattr(model.cfg, "output_logits_soft_cap", 0) or 0) > 0


class SpliceEngine:
    """Clean-run cache for one model on one token set; evaluate any SAE at any hook against it."""

    def __init__(self, model, tokens_NT: torch.Tensor, batch_size: int = 16):
        if not engine_applies(model):
            raise NotImplementedError("logit soft-capping: use saeviz.evals.measure.naive_downstream for this model")
        self.model, self.batch_size, self.tokens_NT = model, batch_size, tokens_NT
        self.special = special_token_ids(model)
        self._batches: list[_CleanBatch] | None = None
        self._zero: dict[str, dict[str, float]] = {}
        self.forward_passes = 0  # counted so tests can prove what is reused

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
        names = [f"blocks.{layer}.hook_resid_pre" for layer in range(model.cfg.n_layers)]
        final, cache = model.run_with_cache(tokens_BT, names_filter=names, stop_at_layer=model.cfg.n_layers)
        self.forward_passes += 1
        W_U, b_U = self._unembed
        h = self._final_hidden(final)[:, :-1].float()
        logp = torch.addmm(b_U, h.flatten(0, 1), W_U).log_softmax(-1)  # [B*P, V], this batch only
        p = logp.exp()
        keep = keep_positions(tokens_BT, self.special)
        shape = h.shape[:2]
        return _CleanBatch(
            tokens_BT=tokens_BT, keep_BT=keep, scored_BP=keep[:, :-1] & keep[:, 1:],
            resid_pre={layer: cache[name] for layer, name in enumerate(names)},
            ce_BP=-logp.gather(-1, tokens_BT[:, 1:].reshape(-1, 1)).reshape(shape),
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
        hooks = [(hook_name, splice_hook(sae, batch.keep_BT, x_hat_KD))]
        self.forward_passes += 1
        if layer is None:  # a hook outside the blocks (e.g. hook_embed): run from the tokens
            final = model.run_with_hooks(batch.tokens_BT, stop_at_layer=model.cfg.n_layers, fwd_hooks=hooks)
        else:
            final = model.run_with_hooks(batch.resid_pre[layer], start_at_layer=layer, stop_at_layer=model.cfg.n_layers,
                                         fwd_hooks=hooks)
        return self._final_hidden(final)

    @torch.inference_mode()
    def _run(self, hook_name: str, sae, x_hat_ND: torch.Tensor | None = None) -> dict[str, float]:
        sums = {"ce": 0.0, "ce_clean": 0.0, "kl": 0.0}
        count, offset = 0, 0
        W_U, b_U = self._unembed
        for batch in self.batches():
            n_kept = int(batch.keep_BT.sum())
            x_hat = None if x_hat_ND is None else x_hat_ND[offset:offset + n_kept]
            offset += n_kept
            h = self._spliced_hidden(batch, hook_name, sae, x_hat)
            ce, kl = next_token_terms(h, batch.tokens_BT, W_U, b_U, batch.pWU_BPD, batch.pb_BP, batch.neg_entropy_BP,
                                     batch.psum_BP)
            s = batch.scored_BP
            sums["ce"] += float(ce[s].double().sum())
            sums["kl"] += float(kl[s].double().sum())
            sums["ce_clean"] += float(batch.ce_BP[s].double().sum())
            count += int(s.sum())
        return {k: v / count for k, v in sums.items()}

    def zero_ablation(self, hook_name: str) -> dict[str, float]:
        """CE and KL with the hook's activation zeroed at ordinary positions (memoised per hook)."""
        if hook_name not in self._zero:
            self._zero[hook_name] = self._run(hook_name, None)
        return self._zero[hook_name]

    def n_kept(self) -> int:
        """Ordinary positions of the token set: the rows of its flat activations."""
        return sum(int(b.keep_BT.sum()) for b in self.batches())

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
