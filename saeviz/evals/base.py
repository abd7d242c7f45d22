"""The one signature every evaluation has, so the runner, the CLI, the report and the dashboard treat
them alike.

An evaluation is a pure function ``run(inputs: EvalInputs, spec) -> pd.DataFrame`` returning tidy rows
with the columns ``item`` (what the number is about: '' for a scalar, 'city.country' for a RAVEL pair,
'k=5' for SCR, 'a' for a letter ...), ``metric`` and ``value``. It never touches the cache or the
Workbench: the runner (``saeviz.pipeline.runner``) builds the inputs for a (model variant, SAE variant,
site, layer), calls ``run`` and stores the rows under a key of every spec involved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import pandas as pd

if TYPE_CHECKING:  # only in annotations: the CLI's parser reads the registry without importing torch
    import torch

ROW_COLUMNS = ["item", "metric", "value"]


@dataclass
class EvalInputs:
    """Everything an evaluation may read for one SAE variant on one model variant.

    ``model`` is the variant's language model (the compressed one, or the dense one for the dense
    reference); ``sae`` reads flat [tokens, d_in] activations of ``hook`` (hook_z heads flattened).
    ``tokens(split)`` gives [n_sequences, seq_len] token ids ('calibration', 'eval', 'train');
    ``acts(split, n_sequences)`` the model's [n_tokens, d_in] activations at ``hook`` (BOS/EOS dropped),
    cached. ``world`` is the embedded toy world (dict, see saeviz.embedded.toyworld) or None for other
    models. ``memo(name, fn)`` caches tensors that depend on the *model variant and hook* only (not on
    the SAE: e.g. probes trained on model activations): it returns fn()'s dict[str, Tensor] the first
    time, the stored one after. ``progress(done, total, message)`` reports progress; it raises
    saeviz.jobs.Cancelled when the user cancels.
    """

    model: object
    sae: object
    hook: str
    site: str
    layer: int
    tokens: Callable[[str], torch.Tensor]
    acts: Callable[[str, int], torch.Tensor]
    world: dict | None = None
    memo: Callable[[str, Callable[[], dict[str, torch.Tensor]]], dict[str, torch.Tensor]] = (
        lambda name, fn: fn())
    progress: Callable[[int, int, str], None] = lambda done, total, message="": None
    # (n_sequences, batch_size) -> saeviz.evals.splice.SpliceEngine over the first eval sequences of this model
    # variant: its clean run is shared by every SAE evaluated on that model (None: build one here)
    engine: Callable[[int, int], object] | None = None

    @property
    def device(self) -> str:
        return str(self.model.cfg.device)


@dataclass(frozen=True)
class Evaluation:
    """A registered evaluation: its name, its spec class (a frozen dataclass with defaults) and ``run``."""

    name: str
    spec_cls: type
    run: Callable[[EvalInputs, object], pd.DataFrame]
    description: str
    # metric -> True when higher is better (the dashboard highlights the best variant per row)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    # whether the evaluation needs the embedded toy world (or an equivalent dataset) to run
    needs_world: bool = False


def rows(values: dict[str, float] | None = None, item: str = "", **named: float) -> pd.DataFrame:
    """Tidy rows from {metric: value} for one item."""
    values = {**(values or {}), **named}
    return pd.DataFrame({"item": [item] * len(values), "metric": list(values), "value": [float(v) for v in values.values()]},
                        columns=ROW_COLUMNS)


def mean_over(results: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each key over several runs' scalar results (e.g. over class pairs or seeds)."""
    return {key: sum(r[key] for r in results) / len(results) for key in results[0]}


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True)[ROW_COLUMNS] if frames else pd.DataFrame(columns=ROW_COLUMNS)
