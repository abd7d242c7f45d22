"""Hook names and widths: the one place that knows how a TransformerLens hook's name maps to its layer
and to the width of the flat [tokens, width] activations an SAE reads there.

The paper's three sites are named by ``saeviz.specs.site_hook`` (``SITE_HOOKS``); everything else
addresses activations by hook name, never by module path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI parser reads hook names; torch loads only with the math
    import torch

# hooks whose activations are [..., d_model]
_D_MODEL_LEAVES = ("hook_resid_pre", "hook_resid_mid", "hook_resid_post", "hook_attn_out", "hook_mlp_out",
                   "hook_embed", "hook_pos_embed", "hook_normalized", "hook_in", "hook_out")


def layer_of(hook_name: str) -> int | None:
    """The block index of ``blocks.{l}.…`` hooks; None for hooks outside the blocks (hook_embed, ln_final)."""
    parts = hook_name.split(".")
    return int(parts[1]) if len(parts) > 1 and parts[0] == "blocks" and parts[1].isdigit() else None


def hook_site(hook_name: str) -> str:
    """Which of the paper's sites a hook belongs to: attn, mlp, resid (or 'other')."""
    if hook_name.endswith(("hook_z", "hook_attn_out")):
        return "attn"
    if hook_name.endswith(("hook_mlp_out", "mlp.hook_post")):
        return "mlp"
    if "hook_resid" in hook_name:
        return "resid"
    return "other"


def flat_heads(act: torch.Tensor) -> torch.Tensor:
    """hook_z's [..., heads, d_head] as [..., heads * d_head] (what an SAE at hook_z reads); others as they are."""
    return act.flatten(-2) if act.dim() == 4 else act


def hook_width(cfg, hook_name: str) -> int:
    """Width of the flat activations at ``hook_name`` for a model config (attention heads flattened)."""
    leaf = hook_name.rsplit(".", 1)[-1]
    if leaf in ("hook_z", "hook_q"):
        return cfg.n_heads * cfg.d_head
    if leaf in ("hook_k", "hook_v"):
        return (getattr(cfg, "n_key_value_heads", None) or cfg.n_heads) * cfg.d_head
    if leaf in ("hook_pre", "hook_post", "hook_pre_linear"):
        return cfg.d_mlp
    if leaf in _D_MODEL_LEAVES:
        return cfg.d_model
    raise KeyError(f"No known activation width for hook {hook_name!r}: SAEs read the residual stream, attention "
                   "(hook_z/q/k/v), MLP (hook_pre/post) or block outputs.")
