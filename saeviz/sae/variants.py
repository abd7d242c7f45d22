"""The SAE variants the paper compares, as one frozen spec.

For a compressed model and a (site, layer): ``dense`` is the pretrained SAE on the *dense* model (the
reference), ``pretrained`` the same SAE applied directly to the compressed model, ``pruned`` that SAE
with its own weights pruned at ``sae_sparsity`` (calibrated on the compressed model's activations),
``pruned_best`` the pruned SAE at the sparsity the BestRule picks from a sweep, and ``retrained`` an SAE
trained from scratch on the compressed model's activations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from saeviz.specs import DEFAULT_SAE_SWEEP, BestRule, SaePruneSpec, TrainSpec, _check_fraction, _help

VARIANT_KINDS = ("dense", "pretrained", "pruned", "pruned_best", "retrained")


@dataclass(frozen=True)
class VariantSpec:
    """Which SAE (and which model: dense for 'dense', compressed otherwise) an evaluation reads."""

    kind: str = _help("dense, pretrained, pruned, pruned_best or retrained.", default="pretrained")
    sae_sparsity: float = _help("SAE sparsity of a 'pruned' variant (fraction of W_enc/W_dec weights removed).", default=0.0)
    prune_method: str = _help("How the SAE is pruned: wanda or magnitude.", default="wanda")
    train: TrainSpec | None = _help("Training of a 'retrained' variant (None: TrainSpec's defaults).", default=None)
    best: BestRule = _help("How 'pruned_best' picks its sparsity.", default_factory=BestRule)
    sweep: tuple[float, ...] = _help("SAE sparsities 'pruned_best' chooses among.", default=DEFAULT_SAE_SWEEP)
    vs_retrained: bool = _help("'pruned_best' compares with a retrained SAE (else: the lowest-loss sparsity).", default=True)

    def __post_init__(self):
        object.__setattr__(self, "sweep", tuple(float(s) for s in self.sweep))
        if self.kind not in VARIANT_KINDS:
            raise ValueError(f"SAE variant {self.kind!r} unknown: choose from {', '.join(VARIANT_KINDS)} "
                             "(or write pruned25 for a pruned SAE at 25%).")
        _check_fraction("sae_sparsity", self.sae_sparsity)
        SaePruneSpec(method=self.prune_method, sparsity=self.sae_sparsity)  # validates the method too
        if self.kind == "pruned_best" and not any(s >= self.best.min_sparsity for s in self.sweep):
            raise ValueError(f"pruned_best needs a swept SAE sparsity >= {self.best.min_sparsity}: add one to the sweep.")

    @classmethod
    def parse(cls, text: str, train: TrainSpec | None = None) -> "VariantSpec":
        """'dense', 'pretrained', 'retrained', 'pruned_best', 'pruned25' (percent) or 'pruned0.25' (fraction)."""
        text = text.strip().lower().replace("-", "_")
        if text in ("trained", "retrained"):
            return cls(kind="retrained", train=train)
        if text in ("pruned_best", "prunedbest", "best"):
            return cls(kind="pruned_best", train=train)
        match = re.fullmatch(r"pruned_?(\d+(?:\.\d+)?)(%?)", text)
        if match:
            value = float(match.group(1))
            fraction = value / 100 if (match.group(2) or value > 1 or "." not in match.group(1)) else value
            return cls(kind="pruned", sae_sparsity=fraction)
        return cls(kind=text, train=train if text == "retrained" else None)

    @property
    def on_dense_model(self) -> bool:
        return self.kind == "dense"

    @property
    def train_spec(self) -> TrainSpec:
        return self.train or TrainSpec()

    def prune_spec(self, sparsity: float | None = None) -> SaePruneSpec:
        return SaePruneSpec(method=self.prune_method, sparsity=self.sae_sparsity if sparsity is None else sparsity)

    def label(self) -> str:
        if self.kind == "pruned":
            pct = self.sae_sparsity * 100
            return f"pruned{pct:.0f}" if abs(pct - round(pct)) < 1e-9 else f"pruned{pct:g}"
        return self.kind

    def cache_identity(self) -> tuple:
        """What makes two variants compute the same SAE (pruned at 0% is the pretrained SAE)."""
        if self.kind == "pruned" and self.sae_sparsity == 0:
            return ("pretrained",)
        if self.kind == "pruned":
            return ("pruned", self.prune_method, self.sae_sparsity)
        if self.kind == "retrained":
            return ("retrained", self.train_spec)
        if self.kind == "pruned_best":
            return ("pruned_best", self.prune_method, self.best, self.sweep, self.vs_retrained and self.train_spec)
        return (self.kind,)


def variant_label(kind: str, sae_sparsity: float | None) -> str:
    """The label of a result row: 'pruned' rows carry their sparsity (pruned25), the others are their kind."""
    if kind == "pruned" and sae_sparsity is not None and sae_sparsity == sae_sparsity:  # not NaN
        return VariantSpec("pruned", float(sae_sparsity)).label()
    return kind


def paper_variants(train: TrainSpec | None = None, method: str = "wanda") -> list[VariantSpec]:
    """Pretrained, Pruned25, Pruned50 and Trained: the paper's four columns."""
    return [VariantSpec("pretrained"), VariantSpec("pruned", 0.25, method), VariantSpec("pruned", 0.5, method),
            VariantSpec("retrained", train=train)]


def select_pruned_best(losses: dict[float, float], retrained_loss: float | None, rule: BestRule) -> tuple[float, bool]:
    """(chosen SAE sparsity, whether it is within tolerance of the retrained SAE); see BestRule."""
    eligible = {s: v for s, v in losses.items() if s >= rule.min_sparsity - 1e-12}
    if not eligible:
        raise ValueError(f"No swept SAE sparsity is >= {rule.min_sparsity}: add one to the sweep.")
    if retrained_loss is not None:
        within = [s for s, v in eligible.items() if v <= retrained_loss * (1 + rule.tolerance)]
        if within:
            return (max(within) if rule.pick == "largest" else min(within)), True
    return min(eligible, key=eligible.get), False
