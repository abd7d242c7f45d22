"""The cache: one DuckDB file (plus array files) under cache/, the only module that knows SQL."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    """$SAEVIZ_CACHE_DIR, else the repository's cache/ folder."""
    return Path(os.environ.get("SAEVIZ_CACHE_DIR", REPO_ROOT / "cache")).expanduser()


def cache_size_bytes(root: Path | None = None) -> int:
    root = root or cache_dir()
    if not root.exists():
        return 0
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
