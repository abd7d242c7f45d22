"""saeviz: do sparse autoencoders trained on a language model still interpret it once it is compressed?

The package is headless: it never imports streamlit (the app in app.py/views/ does).

The public API, for notebooks and scripts, is what this module exports (``saeviz.__all__``): the specs,
loading, compressing, pruning and retraining, the Workbench and the evaluations run through it, the
feature statistics, the Store and the errors::

    import saeviz
    bench = saeviz.Workbench(saeviz.ModelSpec(), saeviz.Store())
    spec = saeviz.CompressSpec(method="wanda", sparsity=0.5)
    rows = saeviz.evaluate(bench, spec, saeviz.VariantSpec("pruned", 0.5), "resid", 1)

This surface is the stable one: where a name lives inside the package may change, ``saeviz.NAME`` does
not. Every name is imported on first use (PEP 562), so ``import saeviz`` stays cheap: it imports
neither torch nor streamlit.
"""

from importlib import import_module as _import_module

__version__ = "0.1.0"

# public name -> "module:attribute" it is read from on first use
_EXPORTS: dict[str, str] = {
    # specs
    "ModelSpec": "saeviz.specs:ModelSpec",
    "SaeSpec": "saeviz.specs:SaeSpec",
    "CompressSpec": "saeviz.specs:CompressSpec",
    "SaePruneSpec": "saeviz.specs:SaePruneSpec",
    "TrainSpec": "saeviz.specs:TrainSpec",
    "EvalSpec": "saeviz.specs:EvalSpec",
    "BestRule": "saeviz.specs:BestRule",
    "DENSE": "saeviz.specs:DENSE",
    "SITES": "saeviz.specs:SITES",
    "site_hook": "saeviz.specs:site_hook",
    "VariantSpec": "saeviz.sae.variants:VariantSpec",
    "paper_variants": "saeviz.sae.variants:paper_variants",
    "SweepSpec": "saeviz.pipeline.sweep:SweepSpec",
    "FeatureSpec": "saeviz.features.stats:FeatureSpec",
    "MatchSpec": "saeviz.features.diff:MatchSpec",
    "ReportSpec": "saeviz.report.build:ReportSpec",
    # loading
    "load_model": "saeviz.model.load:load_model",
    "load_sae": "saeviz.sae.load:load_sae",
    "load_split": "saeviz.tokens.tokenset:load_split",
    # compressing the model, and its loss
    "compress_model": "saeviz.compression.methods:compress_model",
    "apply_masks": "saeviz.compression.methods:apply_masks",
    "COMPRESSORS": "saeviz.compression.methods:COMPRESSORS",
    "ce_loss": "saeviz.model.loss:ce_loss",
    "perplexity": "saeviz.model.loss:perplexity",
    # pruning and retraining the SAE
    "prune_sae": "saeviz.sae.prune:prune_sae",
    "apply_sae_masks": "saeviz.sae.prune:apply_sae_masks",
    "retrain_like": "saeviz.sae.train:retrain_like",
    # the experiment: a Workbench and what runs through it (results cached in the Store)
    "Workbench": "saeviz.pipeline.workbench:Workbench",
    "run_sweep": "saeviz.pipeline.sweep:run_sweep",
    "evaluate": "saeviz.pipeline.runner:evaluate",
    "evaluate_suite": "saeviz.pipeline.runner:evaluate_suite",
    "model_ce": "saeviz.pipeline.runner:model_ce",
    "resolve_pruned_best": "saeviz.pipeline.runner:resolve_pruned_best",
    "wide": "saeviz.pipeline.runner:wide",
    "EVALS": "saeviz.evals:EVALS",
    "get_evaluation": "saeviz.evals:get_evaluation",
    # features
    "feature_tables": "saeviz.pipeline.feature_jobs:feature_tables",
    "latent_changes": "saeviz.pipeline.feature_jobs:latent_changes",
    # the store
    "Store": "saeviz.store.db:Store",
    # errors
    "SaevizError": "saeviz.errors:SaevizError",
    "LoadError": "saeviz.errors:LoadError",
    "CompatibilityError": "saeviz.errors:CompatibilityError",
    "ResourceError": "saeviz.errors:ResourceError",
    "UnsafePathError": "saeviz.errors:UnsafePathError",
    "UnsafeWeightsError": "saeviz.errors:UnsafeWeightsError",
    "UnsupportedModel": "saeviz.compression.methods:UnsupportedModel",
    "CacheBusy": "saeviz.store.db:CacheBusy",
    "CacheReadOnly": "saeviz.store.db:CacheReadOnly",
    "ExportError": "saeviz.report.export:ExportError",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(_import_module(module), attr)
    globals()[name] = value  # resolved once: later reads are plain attribute lookups
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
