"""Files written whole or not at all: a temp name beside the target, then an atomic rename.

A process killed mid-write leaves only its temp file, which readers never look at; temp names carry
the writer's host and pid, so a later writer can tell one left by a dead process (removed) from one
that another live process is still writing (kept).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path
from typing import Callable

_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40] or "host"
_TEMP_RE = re.compile(r"\.tmp(\d+)(?:-([A-Za-z0-9_-]+))?$")


def temp_sibling(path: Path) -> Path:
    """Where to write ``path`` before renaming it into place (same folder: the rename is atomic)."""
    return path.with_name(f"{path.name}.tmp{os.getpid()}-{_HOST}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def is_stale_temp(path: Path) -> bool:
    """A temp file or folder left by a process of this host that no longer runs."""
    match = _TEMP_RE.search(path.name)
    if match is None:
        return False
    host = match.group(2)
    return (host is None or host == _HOST) and not _pid_alive(int(match.group(1)))


def remove_stale_temps(root: Path) -> list[Path]:
    """Delete half-written files and folders that killed writers left under ``root``; returns them."""
    removed = []
    for path in list(root.rglob("*.tmp*")) if root.is_dir() else []:
        if is_stale_temp(path):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(temp)`` a file or folder beside ``path``, then rename it into place: readers see the whole
    thing or nothing, and a failed write (disk full, an exception) leaves no partial file behind."""
    tmp = temp_sibling(path)
    _remove(tmp)
    try:
        write(tmp)
        if path.is_dir() and tmp.is_dir():
            shutil.rmtree(path)  # a folder cannot be renamed over a non-empty one
        os.replace(tmp, path)
    finally:
        _remove(tmp)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
