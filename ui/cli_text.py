"""The CLI commands that compute what a page shows, headless (quoted in exports and comparison packs)."""

from __future__ import annotations


def compress_flags(comp) -> str:
    """`python -m saeviz` flags of a CompressSpec."""
    if comp.method == "dense":
        return "--method dense"
    if comp.method == "checkpoint":
        return f"--compression 'checkpoint:{comp.checkpoint}'"
    if comp.quantizes:
        how = f"--method {comp.method} --bits {comp.bits} --group-size {comp.group_size}" + ("" if comp.symmetric else " --asymmetric")
        how += " --act-order" if comp.act_order else ""
        calibrated = comp.method == "gptq"
        return how + (f" --n-calibration {comp.n_calibration}" if calibrated and comp.n_calibration != 128 else "")
    if comp.n_m:
        how = f"--method {comp.method} --n-m {comp.n_m[0]}:{comp.n_m[1]}"
    else:
        how = f"--method {comp.method} --sparsity {comp.sparsity:g}"
        if comp.layer_sparsity:
            how += " --layer-sparsity " + ",".join(f"{layer}={s:g}" for layer, s in comp.layer_sparsity)
    if comp.method in ("wanda", "sparsegpt") and comp.n_calibration != 128:
        how += f" --n-calibration {comp.n_calibration}"
    return how


def sweep_command(spec, sites=None, layers=None) -> str:
    """The sweep of a SweepSpec (optionally other sites/layers) as one command line."""
    parts = [f"python -m saeviz sweep {compress_flags(spec.compression)}",
             f"--sites {','.join(sites or spec.sites)}"]
    layers = layers if layers is not None else spec.layers
    if layers:
        parts.append("--layers " + ",".join(str(layer) for layer in layers))
    parts.append("--sae-sparsities " + ",".join(f"{s:g}" for s in spec.sae_sparsities))
    parts.append(f"--sae-method {spec.sae_prune_method} --eval-sequences {spec.eval.n_sequences}")
    parts.append(f"--train-tokens {spec.retrain.training_tokens if spec.retrain else 0} --export rows.csv")
    return " ".join(parts)
