"""The Hugging Face hub and its local cache: whether the hub can be reached (decided fast instead of after
minutes of retries), and loading from the cache alone when it cannot, as on a cluster's compute nodes."""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import sys
from urllib.parse import urlparse

from saeviz.errors import OFFLINE_HINT, LoadError

TRUE = ("1", "true", "True", "TRUE", "yes", "on")


def _endpoint_host() -> tuple[str, int]:
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)


def offline_requested() -> bool:
    return any(os.environ.get(v, "0") in TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"))


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout_s: float = 3.0) -> bool:
    if offline_requested():
        return False
    host, port = _endpoint_host()
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _set_library_offline(value: bool) -> list:
    """Flip the offline switch the hub libraries read at call time; returns what to restore.

    huggingface_hub (and transformers through it) and datasets read HF_HUB_OFFLINE once, at import:
    setting the variable later changes nothing, so their module flags are set as well."""
    restore = []
    for module, attr in (("huggingface_hub.constants", "HF_HUB_OFFLINE"), ("datasets.config", "HF_HUB_OFFLINE"),
                         ("datasets.config", "HF_DATASETS_OFFLINE")):
        mod = sys.modules.get(module)
        if mod is not None and hasattr(mod, attr):
            restore.append((mod, attr, getattr(mod, attr)))
            setattr(mod, attr, value)
    return restore


@contextlib.contextmanager
def cache_only_when_offline():
    """Inside, the hub libraries read only the local cache whenever the hub cannot be reached, so a
    cached model, SAE, tokenizer or dataset loads at once instead of failing (or retrying) on the network."""
    if hub_reachable():
        yield
        return
    # lazy: huggingface_hub takes a second to import, and only hub loads need it
    import huggingface_hub.constants  # noqa: F401  (imported so that its flag exists to set)

    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    restore = _set_library_offline(True)
    try:
        yield
    finally:
        for mod, attr, value in restore:
            setattr(mod, attr, value)
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous


def repo_cached(repo_id: str, filename: str = "config.json", repo_type: str = "model") -> bool:
    """True when the local Hugging Face cache already holds this repo's file (usable offline)."""
    try:
        # lazy: huggingface_hub is optional here
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo_id, filename, repo_type=repo_type)
    return isinstance(found, str)


def missing_from_cache(what: str, exc: BaseException) -> LoadError:
    """The one sentence for a hub file that is neither reachable nor cached, naming the repo and file."""
    cache = os.environ.get("HF_HOME") or os.environ.get("HF_HUB_CACHE") or "~/.cache/huggingface"
    if hub_reachable():  # online: the hub's own reason (a gated repo, a typo) is what to act on
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        return LoadError(f"{what} could not be fetched from the Hugging Face hub ({detail}): check the name, and "
                         "for a gated model (Gemma) accept its licence and log in (hf auth login).")
    return LoadError(f"{what} is not in the local Hugging Face cache ({cache}) and the hub cannot be reached from "
                     "here: download it on a machine with a network into the same cache (HF_HOME), or point saeviz "
                     f"at a local copy. {OFFLINE_HINT}")
