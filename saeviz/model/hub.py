"""Whether the Hugging Face hub can be reached, decided fast instead of after minutes of retries."""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse


def _endpoint_host() -> tuple[str, int]:
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout_s: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    host, port = _endpoint_host()
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def repo_cached(repo_id: str, filename: str = "config.json") -> bool:
    """True when the local Hugging Face cache already holds this repo's file (usable offline)."""
    try:
        # lazy: huggingface_hub is optional here
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo_id, filename)
    return isinstance(found, str)
