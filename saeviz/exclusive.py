"""One computation on the models at a time within a process.

TransformerLens keeps hooks on the model's own HookPoint modules, and a hooked run removes every
temporary hook when it ends. Two threads running one model object (two dashboard sessions sharing a
cached Workbench, a background job and a slider) would strip each other's hooks mid-run or read each
other's splices. The backend's entry points that run a model are therefore ``@exclusive``. The lock is
one reentrant lock for the process, not one per model, so an entry point that uses several models
(dense and compressed) can never deadlock against another; on the CPU nothing is lost, since torch
already spreads one computation over every core.
"""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager

_LOCK = threading.RLock()


def models_busy() -> threading.RLock:
    """The process-wide lock; ``with models_busy():`` around work on a model that no entry point covers."""
    return _LOCK


@contextmanager
def models_busy_waited():
    """``models_busy()`` that says whether another thread held it first (so that work it may have done
    meanwhile is looked up only then)."""
    waited = not _LOCK.acquire(blocking=False)
    if waited:
        _LOCK.acquire()
    try:
        yield waited
    finally:
        _LOCK.release()


def exclusive(fn):
    """Run ``fn`` holding the process-wide model lock (reentrant: entry points may call each other)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _LOCK:
            return fn(*args, **kwargs)

    return wrapper
