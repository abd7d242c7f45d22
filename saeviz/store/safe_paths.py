"""Paths a user types: kept inside the folder they belong to, and folders checked before work starts.

The dashboard may run where its users are not the machine's owner (a shared GPU box): a file name
typed into an export field must not reach ``../../.ssh`` or follow a link out of the export folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePath

from saeviz.errors import UnsafePathError


def resolve_inside(base: str | Path, user_path: str | Path, what: str = "File name") -> Path:
    """The real path that ``user_path`` names inside ``base``, or UnsafePathError.

    Relative paths are taken relative to ``base``; absolute ones must already lie inside it. Any
    ``..`` component is refused outright (even one that would stay inside), and symlinks are
    resolved before the check, so a link inside ``base`` pointing out of it is refused too.
    """
    text = str(user_path)
    base_real = Path(base).expanduser().resolve()
    fix = f"give a plain file name such as 'rows.csv', or a path inside {base_real}"
    if not text.strip() or "\x00" in text:
        raise UnsafePathError(f"{what} {text!r} is empty or has a NUL character: {fix}.")
    if ".." in PurePath(text).parts:
        raise UnsafePathError(f"{what} {text!r} climbs out of its folder with '..': {fix}.")
    candidate = Path(text)
    real = (candidate if candidate.is_absolute() else base_real / candidate).resolve()
    if real == base_real or not real.is_relative_to(base_real):
        reason = "points outside" if real != base_real else "is the folder itself, not a file in"
        raise UnsafePathError(f"{what} {text!r} {reason} {base_real} (links are followed): {fix}.")
    return real


def ensure_writable_dir(path: str | Path, what: str = "The folder", hint: str = "choose a folder you can write to") -> Path:
    """Create ``path`` if it is missing and check a file can be written in it; UnsafePathError if not.

    Writing a probe file is the reliable test: ``os.access`` answers yes to root even for a folder
    whose permissions forbid writing."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UnsafePathError(f"{what} {folder} is a file, not a folder: {hint}.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnsafePathError(f"{what} {folder} is missing and cannot be created ({exc.strerror}): {hint}.") from None
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".saeviz-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UnsafePathError(f"{what} {folder} is read-only ({exc.strerror}): {hint}.") from None
    return folder
