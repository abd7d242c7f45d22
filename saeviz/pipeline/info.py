"""What is loaded and where: the summary the home page shows and `python -m saeviz info` prints."""

from __future__ import annotations

import platform
from importlib import metadata

from saeviz import embedded
from saeviz.errors import CompatibilityError, LoadError
from saeviz.specs import EMBEDDED, EMBEDDED_SAE_TEMPLATE, SITES, ModelSpec, SaeSpec

PACKAGES = ("torch", "transformer-lens", "sae-lens", "sae-bench", "transformers", "streamlit", "plotly", "duckdb")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def device_info() -> dict:
    # lazy: torch loads only when this runs, so importing saeviz.pipeline.info stays light; saeviz.device pulls in
    import torch

    from saeviz.device import describe_device, resolve_device

    device = resolve_device("auto")
    return {"device": describe_device(device), "gpu": device.startswith("cuda"), "torch_cuda": torch.version.cuda}


def embedded_info() -> dict:
    if not embedded.is_built():
        return {"built": False, "files": {}}
    return {"built": True, "files": embedded.verify_assets(), "saes": embedded.available_saes()}


def default_sae_specs(model_spec: ModelSpec, template: str = EMBEDDED_SAE_TEMPLATE, sites: tuple[str, ...] = SITES,
                      n_layers: int | None = None) -> list[SaeSpec]:
    """The SAEs shown with a model when the user names none: the SAE template's, one per site and layer
    (all embedded ones for the embedded model)."""
    if template == EMBEDDED_SAE_TEMPLATE:
        if model_spec.name != EMBEDDED:
            return []
        return [SaeSpec.embedded(site, layer) for site, layer in embedded.available_saes()]
    if n_layers is None:
        return []
    specs = [SaeSpec.parse(template.format(site=site, layer=layer)) for site in sites for layer in range(n_layers)]
    return list(dict.fromkeys(specs))  # a template without {site} names each SAE once


def load_summary(model_spec: ModelSpec, sae_specs: list[SaeSpec], model=None) -> dict:
    """Load a model (unless given, already loaded) and SAEs, check each SAE fits, and describe them."""
    # lazy: saeviz.model.load pulls in torch, which importing saeviz.pipeline.info does without; saeviz.sae.load
    from saeviz.model.load import hook_sites, load_model, model_summary
    from saeviz.sae.load import check_compatible, load_sae, sae_summary

    model = model if model is not None else load_model(model_spec)
    saes = []
    for spec in sae_specs:
        try:
            sae = load_sae(spec, device=str(model.cfg.device))
        except LoadError as exc:  # one SAE missing (not cached offline, say) leaves the others listed
            saes.append({"sae": spec.label(), "fits": str(exc)})
            continue
        row = {"sae": spec.label(), **sae_summary(sae), "fits": "yes"}
        try:
            check_compatible(model, sae)
        except CompatibilityError as exc:
            row["fits"] = str(exc)
        saes.append(row)
    return {"model": model_summary(model), "sites": hook_sites(model), "saes": saes}


def _table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def environment_report() -> str:
    # lazy: saeviz.store.db pulls in pandas, torch, which importing saeviz.pipeline.info does without
    from saeviz.store.db import cache_dir, cache_size_bytes

    lines = ["saeviz environment"]
    lines += [f"  {k}: {v}" for k, v in package_versions().items()]
    dev = device_info()
    lines.append(f"  device: {dev['device']} (GPU in use: {'yes' if dev['gpu'] else 'no'})")
    emb = embedded_info()
    if emb["built"]:
        ok = sum(emb["files"].values())
        lines.append(f"  embedded assets: {ok}/{len(emb['files'])} files match their sha256 in the manifest")
        lines += [f"    {'ok ' if good else 'BAD'} {name}" for name, good in sorted(emb["files"].items())]
    else:
        lines.append("  embedded assets: missing (python -m saeviz build-embedded)")
    lines.append(f"  cache: {cache_dir()} ({cache_size_bytes() / 1e6:.1f} MB)")
    return "\n".join(lines)


def unfit_saes(summary: dict) -> list[str]:
    """One sentence per SAE of a load_summary that cannot read its model, saying why."""
    return [f"{row['sae']}: {row['fits']}" for row in summary["saes"] if row["fits"] != "yes"]


def loaded_report(model_name: str, sae_refs: list[str], device: str = "auto") -> tuple[str, list[str]]:
    """The printable summary of a model and SAEs, and the reasons any SAE does not fit the model."""
    model_spec = ModelSpec(name=model_name, device=device)
    sae_specs = [SaeSpec.parse(ref) for ref in sae_refs] or default_sae_specs(model_spec)
    summary = load_summary(model_spec, sae_specs)
    m = summary["model"]
    lines = [f"\nmodel {m['name']}: {m['layers']} layers, d_model {m['d_model']}, {m['heads']} heads x {m['d_head']}, "
             f"d_mlp {m['d_mlp']}, vocab {m['d_vocab']}, context {m['n_ctx']}, {m['parameters']:,} parameters on {m['device']}"]
    lines.append("hook sites (first layer; every layer has the same):")
    lines.append(_table([s for s in summary["sites"] if s["layer"] == 0], ["site", "hook", "width"]))
    if summary["saes"]:
        lines.append(f"\n{len(summary['saes'])} SAEs:")
        lines.append(_table(summary["saes"], ["sae", "site", "layer", "architecture", "d_in", "d_sae", "hook", "fits"]))
    return "\n".join(lines), unfit_saes(summary)
