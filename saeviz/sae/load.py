"""Loading SAEs through sae_lens (embedded, pretrained releases, local folders) and checking they fit a model."""

from __future__ import annotations

import difflib
import json
import warnings
from pathlib import Path

from saeviz import embedded
from saeviz.device import resolve_device
from saeviz.errors import CompatibilityError, LoadError
from saeviz.model.hooks import hook_site, hook_width, layer_of
from saeviz.model.hub import cache_only_when_offline, missing_from_cache, repo_cached
from saeviz.model.load import check_safetensors, refuse_pickles, weights_only_loads
from saeviz.specs import EMBEDDED, SaeSpec

SAE_FILES = ("cfg.json", "sae_weights.safetensors")


def load_sae(spec: SaeSpec, device: str = "auto"):
    """The sae_lens SAE a spec names, on ``device``, with hook_z SAEs reading flattened heads."""
    device = resolve_device(device)
    if spec.release == EMBEDDED:
        site, layer = spec.embedded_site_layer()
        sae = load_sae_dir(embedded.sae_dir(site, layer), device)
    elif spec.is_local_dir:
        sae = load_sae_dir(Path(spec.release).expanduser(), device)
    else:
        sae = _load_release(spec.release, spec.sae_id, device)
    sae.eval()
    return flat_inputs(sae)


def flat_inputs(sae):
    """saeviz feeds every SAE 2-D [tokens, d_in] activations, flattening hook_z heads itself.

    sae_lens' own hook_z reshaping would misread an already flat [tokens, n_heads * d_head] batch
    as [heads, d_head], so it stays off (cfg.reshape_activations keeps its value for saving).
    """
    if getattr(sae, "hook_z_reshaping_mode", False):
        sae.turn_off_forward_pass_hook_z_reshaping()
    return sae


def load_sae_dir(path: Path, device: str = "cpu"):
    # lazy: sae_lens takes seconds to import
    from sae_lens import SAE

    refuse_pickles(path, "The SAE folder")
    missing = [name for name in SAE_FILES if not (path / name).is_file()]
    if missing:
        raise LoadError(
            f"{path} is not a sae_lens SAE folder: {', '.join(missing)} missing "
            "(save SAEs with sae.save_model(dir), which writes cfg.json and sae_weights.safetensors)."
        )
    for weights in sorted(path.glob("*.safetensors")):
        check_safetensors(weights)

    try:
        with warnings.catch_warnings():
            # saeviz loads models itself; sae_lens' hint about model_from_pretrained_kwargs does not apply
            warnings.filterwarnings("ignore", message="(?s).*model_from_pretrained_kwargs")
            # sae_lens reads the weights with safetensors, so a user's folder is never unpickled.
            return SAE.load_from_disk(str(path), device=device)
    except Exception as exc:  # sae_lens raises bare KeyError/TypeError/JSONDecodeError for a bad cfg.json
        detail = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}" if str(exc).strip() else type(exc).__name__
        raise LoadError(f"sae_lens could not read the SAE in {path} ({detail}): check its cfg.json against "
                        "sae_lens' format, or re-save it with sae.save_model(dir).") from None


def _release_lookup(release: str, sae_id: str):
    # lazy: sae_lens takes seconds to import
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    directory = get_pretrained_saes_directory()
    if release not in directory:
        close = difflib.get_close_matches(release, directory, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else " See sae_lens' pretrained_saes.yaml for the list."
        raise LoadError(f"{release!r} is not a sae_lens release, 'embedded', or an existing SAE folder.{hint}")
    lookup = directory[release]
    if sae_id not in lookup.saes_map:
        examples = ", ".join(list(lookup.saes_map)[:4])
        raise LoadError(f"Release {release!r} has no SAE {sae_id!r}; its ids look like: {examples}, ...")
    return lookup


def _load_release(release: str, sae_id: str, device: str):
    """A sae_lens release's SAE, from the hub or, when the hub cannot be reached, from the local cache."""
    # lazy: sae_lens takes seconds to import
    from sae_lens import SAE

    lookup = _release_lookup(release, sae_id)
    with cache_only_when_offline():
        try:
            with weights_only_loads():  # a few third-party SAE formats are torch.load-ed by sae_lens
                return SAE.from_pretrained(release, sae_id, device=device)
        except OSError as exc:  # LocalEntryNotFoundError (not cached, offline), HTTP errors
            raise missing_from_cache(_release_files(lookup, sae_id), exc) from None


def _release_files(lookup, sae_id: str) -> str:
    """'repo R, file F' for the first file of a release's SAE that the local cache lacks."""
    folder = lookup.saes_map[sae_id]
    names = ("params.npz",) if lookup.conversion_func and "gemma" in lookup.conversion_func else SAE_FILES
    missing = [f"{folder}/{n}" for n in names if not repo_cached(lookup.repo_id, f"{folder}/{n}")]
    return f"SAE {lookup.release}/{sae_id} (repo {lookup.repo_id}, file {(missing or [folder])[0]})"


def sae_config(spec: SaeSpec) -> dict:
    """The SAE's config as sae_lens records it (hook_name, context_size, prepend_bos, dataset_path, ...),
    without loading its weights: for a release only cfg.json is fetched (or read from the cache)."""
    if spec.release == EMBEDDED or spec.is_local_dir:
        path = embedded.sae_dir(*spec.embedded_site_layer()) if spec.release == EMBEDDED else Path(spec.release).expanduser()
        if not (path / "cfg.json").is_file():
            raise LoadError(f"{path} has no cfg.json: it is not a sae_lens SAE folder.")
        cfg = json.loads((path / "cfg.json").read_text())
        return {**cfg, **(cfg.get("metadata") or {})}
    # lazy: sae_lens takes seconds to import
    from sae_lens.loading.pretrained_sae_loaders import load_sae_config_from_huggingface

    lookup = _release_lookup(spec.release, spec.sae_id)
    with cache_only_when_offline():
        try:
            cfg = load_sae_config_from_huggingface(spec.release, spec.sae_id)
        except OSError as exc:
            raise missing_from_cache(_release_files(lookup, spec.sae_id), exc) from None
    return {**cfg, **(cfg.get("metadata") or {})}


sae_site = hook_site  # the site of an SAE's hook


def sae_hook_name(sae) -> str:
    name = sae.cfg.metadata.hook_name
    if not name:
        raise CompatibilityError("The SAE's config names no hook (cfg.metadata.hook_name): set it to the transformer_lens hook it was trained on.")
    return name


def sae_summary(sae) -> dict:
    hook = sae_hook_name(sae)
    return {
        "hook": hook,
        "site": sae_site(hook),
        "layer": layer_of(hook),
        "architecture": sae.cfg.architecture(),
        "d_in": sae.cfg.d_in,
        "d_sae": sae.cfg.d_sae,
        "dtype": sae.cfg.dtype,
        "model": sae.cfg.metadata.model_name,
    }


def check_compatible(model, sae) -> None:
    """Raise CompatibilityError (saying what to change) unless the SAE can read this model's activations."""
    hook = sae_hook_name(sae)
    if hook not in model.hook_dict:
        close = difflib.get_close_matches(hook, model.hook_dict, n=3)
        hint = f" Closest hooks: {', '.join(close)}." if close else ""
        raise CompatibilityError(f"The SAE reads hook {hook!r}, which model {model.cfg.model_name!r} does not have.{hint}")
    try:
        width = hook_width(model.cfg, hook)
    except KeyError as exc:
        raise CompatibilityError(str(exc.args[0])) from None
    if hook.endswith("hook_z"):
        if sae.cfg.d_in == model.cfg.d_head and width != model.cfg.d_head:
            raise CompatibilityError(
                f"The SAE on {hook} reads one head (d_in={sae.cfg.d_in}); saeviz analyses attention SAEs on all heads "
                f"flattened (d_in = n_heads * d_head = {width})."
            )
        if sae.cfg.d_in == width:
            # hook_z is [batch, pos, head, d_head]: record that this SAE reads it flattened (for saving)
            sae.cfg.reshape_activations = "hook_z"
            flat_inputs(sae)
    if sae.cfg.d_in != width:
        raise CompatibilityError(
            f"The SAE expects d_in={sae.cfg.d_in} but {model.cfg.model_name!r} has width {width} at {hook}: "
            "pick an SAE trained on this model (or this model's family and size)."
        )
