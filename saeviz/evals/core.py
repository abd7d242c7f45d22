"""The core metrics (the paper's Table 1) with saeviz's definitions.

Reconstruction, shrinkage, sparsity and feature density on the evaluation split's activations (BOS/EOS
positions excluded), weight geometry, and, with the SAE spliced into the model at its hook: CE without
the SAE, with it and with the activation zero-ablated (at ordinary positions only), the KL of the model's
next-token distribution from the clean one, and the two normalised scores. A next-token term counts
when both the token and the one it predicts are ordinary tokens. See saeviz/evals/metrics.py for each
definition and where sae_bench 0.6 differs.
"""

from __future__ import annotations

import pandas as pd

from saeviz.evals.base import EvalInputs, Evaluation, rows
from saeviz.evals.measure import naive_downstream, reconstruction_stats
from saeviz.evals.metrics import weight_metrics
from saeviz.evals.splice import SpliceEngine, engine_applies
from saeviz.specs import EvalSpec

HIGHER_IS_BETTER = {
    "kl_div_score": True, "kl_div_with_sae": False, "ce_loss_score": True, "ce_loss_with_sae": False,
    "explained_variance": True, "mse": False, "cossim": True, "l2_ratio": True, "frac_alive": True,
    "dead_fraction": False,
}


def run_core(inputs: EvalInputs, spec: EvalSpec) -> pd.DataFrame:
    acts = inputs.acts("eval", spec.n_sequences)
    metrics, x_hat = reconstruction_stats(inputs.sae, acts, keep_x_hat=True)
    metrics.update(weight_metrics(inputs.sae.W_enc, inputs.sae.W_dec))
    if spec.downstream:
        metrics.update(_downstream(inputs, spec, x_hat))
    return rows(metrics)


def _downstream(inputs: EvalInputs, spec: EvalSpec, x_hat) -> dict[str, float]:
    tokens = inputs.tokens("eval")[: spec.n_sequences]
    if not engine_applies(inputs.model):
        return naive_downstream(inputs.model, inputs.sae, inputs.hook, tokens, spec.batch_size)
    if inputs.engine is not None:
        engine = inputs.engine(spec.n_sequences, spec.batch_size)
    else:
        engine = SpliceEngine(inputs.model, tokens, spec.batch_size)
    # the cached activations are the clean ones the splice would see: reuse their reconstructions
    return engine.evaluate(inputs.hook, inputs.sae, x_hat)


EVALUATION = Evaluation(
    name="core", spec_cls=EvalSpec, run=run_core, higher_is_better=HIGHER_IS_BETTER,
    description="Reconstruction, sparsity, shrinkage, feature density and CE/KL with the SAE spliced in (the paper's Table 1).",
)
