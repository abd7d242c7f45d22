"""The SAE and the model each variant stands for, built from a Workbench's loaded inputs and cached.

``pruned_best`` is not an SAE of its own: the runner resolves it to the pruned variant it picks
(``runner.resolve_pruned_best``) before it asks for an SAE here.
"""

from __future__ import annotations

from saeviz.exclusive import exclusive
from saeviz.jobs import Progress
from saeviz.sae.load import load_sae_dir
from saeviz.sae.prune import apply_sae_masks, prune_sae
from saeviz.sae.train import retrain_like
from saeviz.sae.variants import VariantSpec
from saeviz.specs import CompressSpec, SaePruneSpec, TrainSpec
from saeviz.store import keys


def variant_model(bench, compress: CompressSpec, variant: VariantSpec):
    """The model a variant runs on: the dense one for the dense reference, else the compressed one."""
    return bench.compressed(keys.model_compression(compress, variant))


def variant_key(bench, compress: CompressSpec, site: str, layer: int, variant: VariantSpec) -> str:
    """keys.variant_key for a Workbench's model, tokens and SAE template."""
    model_compress = keys.model_compression(compress, variant)
    return keys.variant_key(bench.compress_key(model_compress), bench.sae_spec(site, layer).label(), variant)


def pruned_sae(bench, compress: CompressSpec, site: str, layer: int, prune: SaePruneSpec):
    """The pretrained SAE pruned with calibration activations of the compressed model (masks cached)."""
    sae = bench.pretrained_sae(site, layer)
    if prune.sparsity == 0:
        return sae
    key = keys.sae_masks_key(bench.compress_key(compress), bench.sae_spec(site, layer).label(), prune)
    masks = bench.store.get_tensors("sae_masks", key)
    if masks is None:
        calib = bench.activations(compress, bench.sae_hook(site, layer), "calibration", bench.tokens("calibration").shape[0])
        masks = prune_sae(sae, prune, calib).masks
        bench.store.put_tensors("sae_masks", key, masks, meta={"sparsity": prune.sparsity})
    return apply_sae_masks(sae, {k: v.bool() for k, v in masks.items()})


@exclusive
def retrained_sae(bench, compress: CompressSpec, site: str, layer: int, train: TrainSpec, progress: Progress | None = None):
    """An SAE trained from scratch on the compressed model at this site (saved and resumed in the cache)."""
    key = keys.retrained_key(bench.compress_key(compress), bench.sae_spec(site, layer).label(), train)
    final = bench.store.readable(bench.store.sae_dir(key) / "final")
    if (final / "cfg.json").is_file():
        return load_sae_dir(final, str(bench.base_model.cfg.device))
    result = retrain_like(bench.pretrained_sae(site, layer), bench.compressed(compress), bench.tokens("train"),
                          train, bench.store.sae_dir(key), progress)
    bench.store.note_dir(bench.store.sae_dir(key) / "final")
    bench.store.put_timing(key, "retrain", f"{compress.label()} {site} L{layer}", result.seconds, result.tokens)
    bench.store.flush()  # a finished training is recorded at once, even inside a sweep unit's batch
    return result.sae


def variant_sae(bench, compress: CompressSpec, site: str, layer: int, variant: VariantSpec, progress: Progress | None = None):
    """The SAE of a dense, pretrained, pruned or retrained variant."""
    if variant.kind in ("dense", "pretrained"):
        return bench.pretrained_sae(site, layer)
    if variant.kind == "pruned":
        return pruned_sae(bench, compress, site, layer, variant.prune_spec())
    if variant.kind == "retrained":
        return retrained_sae(bench, compress, site, layer, variant.train_spec, progress)
    raise ValueError(f"A {variant.kind} variant stands for another SAE: resolve it first "
                     "(saeviz.pipeline.runner.resolve_pruned_best gives the pruned variant it picks).")
