"""sae_bench 0.6's own core eval, run offline on saeviz's model, SAE and tokens: its raw numbers, labelled
as such, to set beside saeviz's (``core``) and to compare with published tables.

Known differences (measured, see README): its ``mse`` divides each token's squared error by the number
of tokens in its batch rather than by d_in (SAELens PR 711), its ``explained_variance`` takes
E||x||^2 - (mean_d E[x_d^2])^2 as the total variance instead of E||x||^2 - ||E x||^2 (SAELens issue 659),
it scores next-token terms whenever the *input* token is ordinary (so predicting a separator counts)
and averages KL over the last position too. Under sae_lens 6.54 the reset between its two halves does
not rewind the token stream; the dataset handed to it holds the evaluation rows twice, so both halves
read the same sequences.
"""

from __future__ import annotations

import copy

import pandas as pd

from saeviz.evals.base import EvalInputs, Evaluation, rows
from saeviz.model.activations import special_token_ids
from saeviz.specs import EvalSpec


def _sae_for_sae_bench(sae, model, context_size: int):
    # lazy: sae_bench takes seconds to import
    from sae_bench.sae_bench_utils.general_utils import _standardize_sae_cfg

    sae = copy.deepcopy(sae)
    meta = sae.cfg.metadata
    meta.context_size = context_size
    meta.prepend_bos = False  # the evaluation rows already start with BOS
    meta.model_name = meta.model_name or model.cfg.model_name
    _standardize_sae_cfg(sae.cfg)
    return sae


def run_sae_bench_core(inputs: EvalInputs, spec: EvalSpec) -> pd.DataFrame:
    # lazy: torch loads only when this runs, so importing saeviz.evals.sae_bench_core stays light; datasets takes
    import torch
    from datasets import Dataset
    from sae_bench.evals.core.main import (
        CoreEvalConfig,
        calculate_misc_metrics,
        get_featurewise_weight_based_metrics,
        run_evals,
    )
    from sae_lens import ActivationsStore

    tokens = inputs.tokens("eval")[: spec.n_sequences]
    n_batches = -(-spec.n_sequences // spec.batch_size)
    sae = _sae_for_sae_bench(inputs.sae, inputs.model, tokens.shape[1])
    dataset = Dataset.from_dict({"input_ids": torch.cat([tokens, tokens]).tolist()})
    store = ActivationsStore.from_sae(inputs.model, sae, dataset, streaming=False, store_batch_size_prompts=spec.batch_size,
                                      n_batches_in_buffer=2, device=inputs.device, disable_concat_sequences=True)
    config = CoreEvalConfig(batch_size_prompts=spec.batch_size, n_eval_reconstruction_batches=n_batches,
                            n_eval_sparsity_variance_batches=n_batches, compute_kl=spec.downstream, compute_ce_loss=spec.downstream,
                            compute_l2_norms=True, compute_sparsity_metrics=True, compute_variance_metrics=True,
                            compute_featurewise_density_statistics=True, compute_featurewise_weight_based_metrics=True,
                            exclude_special_tokens_from_reconstruction=True)
    metrics, features = run_evals(sae, store, inputs.model, config, ignore_tokens=set(special_token_ids(inputs.model)))
    flat = {name: float(v) for group in metrics.values() for name, v in group.items() if isinstance(v, (int, float))}
    flat.update(calculate_misc_metrics({**features, **get_featurewise_weight_based_metrics(sae)}))
    return rows(flat)


EVALUATION = Evaluation(
    name="sae_bench_core", spec_cls=EvalSpec, run=run_sae_bench_core,
    description="sae_bench 0.6's core eval, raw (its mse and explained_variance formulas differ from saeviz's: see README).",
)
