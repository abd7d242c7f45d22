"""Moving results between caches that share no disk: what a block of work wrote in one Store (a Ray
worker's private cache), collected from its journal, and written into another (the driver's) in one
transaction.

Bulky intermediates that any process can recompute from its specs (activations, compressed weights and
masks, calibration norms, evaluation memos) stay where they were computed: a worker keeps them for its
next units, and the driver never needs them to show a result. Everything a page or a command reads (metric
rows, timings, compression reports, feature tables, SAE masks, trained SAEs) is shipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from saeviz.store.atomic import write_atomic
from saeviz.store.db import PRIMARY_KEYS, Journal, Store

LOCAL_KINDS = frozenset({"acts", "eval_memo", "model_masks", "model_weights", "calib_norms"})


@dataclass
class Delta:
    """Rows per table, files (artifacts) and folders (trained SAEs) by path relative to the cache root."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    dirs: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def n_bytes(self) -> int:
        return sum(len(b) for b in self.files.values()) + sum(len(b) for d in self.dirs.values() for b in d.values())


def _shipped(artifact_key: str) -> bool:
    kind = artifact_key.split("/", 1)[0]
    return kind not in LOCAL_KINDS


def read_dir(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def collect(store: Store, journal: Journal) -> Delta:
    """What the journal's block wrote in ``store``, ready to send (pickled by Ray) to another process."""
    delta = Delta()
    keys = dict(journal.keys, artifacts={k for k in journal.keys["artifacts"] if _shipped(k)})
    for table in PRIMARY_KEYS:
        rows = store.table_rows(table, list(keys[table]))
        if len(rows):
            delta.tables[table] = rows
    for row in delta.tables.get("artifacts", pd.DataFrame()).itertuples():
        path = store.root / row.path
        if path.is_file():
            delta.files[row.path] = path.read_bytes()
    for rel in sorted(journal.dirs):
        delta.dirs[rel] = read_dir(store.root / rel)
    return delta


def write_dir(path: Path, files: dict[str, bytes]) -> None:
    """A folder written whole or not at all (a reader checks for its cfg.json)."""
    def write(tmp: Path) -> None:
        for name, data in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, write)


def absorb(store: Store, delta: Delta) -> None:
    """Write a Delta into ``store``: files first (atomically), then every row in one transaction, so a
    reader sees a result only once all of it is there."""
    store.ensure_writable()
    for rel, data in delta.files.items():
        path = store.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda tmp, data=data: tmp.write_bytes(data))
    for rel, files in delta.dirs.items():
        write_dir(store.root / rel, files)
    with store.batch():
        for table, rows in delta.tables.items():
            store.put_table_rows(table, rows)


def install(store: Store, dirs: dict[str, dict[str, bytes]]) -> None:
    """Folders a unit needs (trained SAEs the driver holds) into a worker's cache, where missing."""
    for rel, files in dirs.items():
        if not (store.root / rel).exists():
            write_dir(store.root / rel, files)
