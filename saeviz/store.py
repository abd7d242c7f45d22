"""The cache: one DuckDB file plus safetensors arrays under cache/; the only module that knows SQL.

DuckDB admits one read-write process or many read-only ones, never both. Every access here is a
short-lived connection guarded by an advisory file lock (shared for reads, exclusive for writes)
and, inside a process, by a thread lock (Streamlit serves sessions from threads). So a CLI sweep
and an open dashboard share one cache: each waits at most a write's few milliseconds. Arrays live
in their own files, written atomically, and are read without touching the database.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch

from saeviz.errors import SaevizError

REPO_ROOT = Path(__file__).resolve().parents[1]
_THREAD_LOCKS: dict[str, threading.RLock] = {}

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics (
    run_key VARCHAR, model VARCHAR, compression VARCHAR, site VARCHAR, layer INTEGER,
    variant VARCHAR, sae_sparsity DOUBLE, eval VARCHAR, item VARCHAR, metric VARCHAR, value DOUBLE,
    created TIMESTAMP, PRIMARY KEY (run_key, item, metric));
CREATE TABLE IF NOT EXISTS compress_stats (
    compress_key VARCHAR, model VARCHAR, compression VARCHAR, layer INTEGER, matrix VARCHAR,
    sparsity DOUBLE, quant_error DOUBLE, PRIMARY KEY (compress_key, layer, matrix));
CREATE TABLE IF NOT EXISTS timings (
    job_key VARCHAR PRIMARY KEY, kind VARCHAR, label VARCHAR, seconds DOUBLE, tokens BIGINT, created TIMESTAMP);
CREATE TABLE IF NOT EXISTS artifacts (
    kind VARCHAR, key VARCHAR, path VARCHAR, meta VARCHAR, created TIMESTAMP, PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS schema_info (version INTEGER);
"""
# Schema 1 (before the evaluation suite) had no eval/item columns; its rows are all core metrics.
MIGRATIONS = {
    1: """
ALTER TABLE metrics RENAME TO metrics_v1;
CREATE TABLE metrics (
    run_key VARCHAR, model VARCHAR, compression VARCHAR, site VARCHAR, layer INTEGER,
    variant VARCHAR, sae_sparsity DOUBLE, eval VARCHAR, item VARCHAR, metric VARCHAR, value DOUBLE,
    created TIMESTAMP, PRIMARY KEY (run_key, item, metric));
INSERT INTO metrics SELECT run_key, model, compression, site, layer, variant, sae_sparsity, 'core', '', metric, value, created
    FROM metrics_v1;
DROP TABLE metrics_v1;
""",
}
METRIC_COLUMNS = ["run_key", "model", "compression", "site", "layer", "variant", "sae_sparsity", "eval", "item", "metric", "value"]
RUN_COLUMNS = METRIC_COLUMNS[:-3]


def cache_dir() -> Path:
    """$SAEVIZ_CACHE_DIR, else the repository's cache/ folder."""
    return Path(os.environ.get("SAEVIZ_CACHE_DIR", REPO_ROOT / "cache")).expanduser()


def cache_size_bytes(root: Path | None = None) -> int:
    root = root or cache_dir()
    if not root.exists():
        return 0
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


class CacheBusy(SaevizError):
    pass


def _schema_version(con) -> int:
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "schema_info" in tables:
        row = con.execute("SELECT max(version) FROM schema_info").fetchone()
        if row and row[0] is not None:
            return int(row[0])
    if "metrics" not in tables:
        return SCHEMA_VERSION  # a new file
    columns = {row[0] for row in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'metrics'").fetchall()}
    return SCHEMA_VERSION if "item" in columns else 1


def _ensure_schema(con) -> None:
    """Create the tables, migrating a cache written by an older saeviz in place (rows kept)."""
    version = _schema_version(con)
    if version > SCHEMA_VERSION:
        raise SaevizError(f"The cache was written by a newer saeviz (schema {version} > {SCHEMA_VERSION}): "
                          "upgrade saeviz or point SAEVIZ_CACHE_DIR at another folder.")
    for step in range(version, SCHEMA_VERSION):
        con.execute(MIGRATIONS[step])
    con.execute(SCHEMA)
    if version != SCHEMA_VERSION or not con.execute("SELECT count(*) FROM schema_info").fetchone()[0]:
        con.execute("DELETE FROM schema_info")
        con.execute("INSERT INTO schema_info VALUES (?)", [SCHEMA_VERSION])


class Store:
    """Keyed reads and writes of results; safe across threads and processes."""

    def __init__(self, root: Path | None = None, lock_timeout_s: float = 120.0):
        self.root = Path(root or cache_dir())
        self.db_path = self.root / "saeviz.duckdb"
        self.lock_timeout_s = lock_timeout_s
        self._thread_lock = _THREAD_LOCKS.setdefault(str(self.db_path), threading.RLock())
        self._checked = False

    # --- connections -----------------------------------------------------------------------
    @contextmanager
    def _connect(self, write: bool):
        import duckdb

        self.root.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(self.root / "saeviz.lock", "a+") as lock_file:
            self._flock(lock_file, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            try:
                if not write and not self.db_path.exists():
                    yield None
                    return
                con = duckdb.connect(str(self.db_path), read_only=not write)
                try:
                    if write:
                        _ensure_schema(con)
                    yield con
                finally:
                    con.close()
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _flock(self, lock_file, mode: int) -> None:
        deadline = time.monotonic() + self.lock_timeout_s
        while True:
            try:
                fcntl.flock(lock_file, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CacheBusy(f"The cache {self.db_path} stayed locked by another process for {self.lock_timeout_s:.0f} s; "
                                    "wait for it to finish or point SAEVIZ_CACHE_DIR elsewhere.") from None
                time.sleep(0.02)

    def _ensure_current(self) -> None:
        """Migrate a cache written by an older saeviz before the first read (reads cannot migrate)."""
        if self._checked:
            return
        with self._connect(write=False) as con:
            old = con is not None and _schema_version(con) < SCHEMA_VERSION
        if old:
            with self._connect(write=True):
                pass
        self._checked = True

    def _query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        self._ensure_current()
        with self._connect(write=False) as con:
            if con is None:
                return pd.DataFrame()
            try:
                return con.execute(sql, params or []).df()
            except Exception as exc:  # a fresh file without the table yet
                if "does not exist" in str(exc):
                    return pd.DataFrame()
                raise

    # --- metrics ----------------------------------------------------------------------------
    def put_metrics(self, run: dict, values: dict[str, float] | None = None, rows=None) -> None:
        """One run (run_key, model, compression, site, layer, variant, sae_sparsity, eval) and its values:
        ``values`` {metric: value} (item ''), or ``rows`` a DataFrame with item, metric, value columns."""
        base = [run.get(c) for c in RUN_COLUMNS[:-1]] + [run.get("eval") or "core"]
        items = [("", name, v) for name, v in (values or {}).items()]
        if rows is not None:
            items += list(zip(rows["item"].astype(str), rows["metric"].astype(str), rows["value"].astype(float)))
        with self._connect(write=True) as con:
            con.executemany(
                f"INSERT OR REPLACE INTO metrics ({', '.join(METRIC_COLUMNS)}, created) VALUES ({', '.join('?' * len(METRIC_COLUMNS))}, now())",
                [base + [item, name, float(v)] for item, name, v in items],
            )

    def has_run(self, run_key: str) -> bool:
        return len(self._query("SELECT 1 FROM metrics WHERE run_key = ? LIMIT 1", [run_key])) > 0

    def run_metrics(self, run_key: str) -> dict[str, float]:
        """{metric: value} of a run's scalar rows (item '')."""
        df = self._query("SELECT metric, value FROM metrics WHERE run_key = ? AND item = ''", [run_key])
        return dict(zip(df["metric"], df["value"])) if len(df) else {}

    def run_rows(self, run_key: str) -> pd.DataFrame:
        """All rows (item, metric, value) of a run; empty when not computed."""
        df = self._query("SELECT item, metric, value FROM metrics WHERE run_key = ? ORDER BY item, metric", [run_key])
        return df if len(df) else pd.DataFrame(columns=["item", "metric", "value"])

    def metrics(self, **filters) -> pd.DataFrame:
        """Metric rows (long format), filtered by equality on any metric column."""
        bad = set(filters) - set(METRIC_COLUMNS)
        if bad:
            raise ValueError(f"Cannot filter metrics by {sorted(bad)}; columns: {METRIC_COLUMNS}.")
        where = " AND ".join(f"{k} = ?" for k in filters) or "TRUE"
        df = self._query(f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics WHERE {where} ORDER BY site, layer, variant, sae_sparsity", list(filters.values()))
        return df if len(df) else pd.DataFrame(columns=METRIC_COLUMNS)

    def metrics_for_runs(self, run_keys: list[str]) -> pd.DataFrame:
        if not run_keys:
            return pd.DataFrame(columns=METRIC_COLUMNS)
        df = self._query(f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics WHERE list_contains(?, run_key) "
                         "ORDER BY site NULLS FIRST, layer, variant, sae_sparsity, eval, item, metric", [list(dict.fromkeys(run_keys))])
        return df if len(df) else pd.DataFrame(columns=METRIC_COLUMNS)

    # --- compression reports and timings ------------------------------------------------------
    def put_compress_stats(self, rows: list[dict]) -> None:
        cols = ["compress_key", "model", "compression", "layer", "matrix", "sparsity", "quant_error"]
        with self._connect(write=True) as con:
            con.executemany(f"INSERT OR REPLACE INTO compress_stats VALUES ({', '.join('?' * len(cols))})",
                            [[r.get(c) for c in cols] for r in rows])

    def compress_stats(self, compress_key: str) -> pd.DataFrame:
        return self._query("SELECT * FROM compress_stats WHERE compress_key = ? ORDER BY layer, matrix", [compress_key])

    def put_timing(self, job_key: str, kind: str, label: str, seconds: float, tokens: int = 0) -> None:
        with self._connect(write=True) as con:
            con.execute("INSERT OR REPLACE INTO timings VALUES (?, ?, ?, ?, ?, now())", [job_key, kind, label, seconds, tokens])

    def timings(self, kind: str | None = None) -> pd.DataFrame:
        if kind is None:
            return self._query("SELECT * FROM timings ORDER BY created")
        return self._query("SELECT * FROM timings WHERE kind = ? ORDER BY created", [kind])

    # --- arrays -----------------------------------------------------------------------------
    def array_path(self, kind: str, key: str) -> Path:
        return self.root / "arrays" / kind / f"{key}.safetensors"

    def put_tensors(self, kind: str, key: str, tensors: dict[str, torch.Tensor], meta: dict | None = None) -> Path:
        from safetensors.torch import save_file

        path = self.array_path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        # clone: callers may pass one tensor under several names (W_Q, W_K, W_V share an input norm)
        save_file({k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}, str(tmp))
        os.replace(tmp, path)  # atomic: readers see the whole file or none
        with self._connect(write=True) as con:
            con.execute("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?, now())",
                        [kind, key, str(path.relative_to(self.root)), json.dumps(meta or {}, default=str)])
        return path

    def get_tensors(self, kind: str, key: str) -> dict[str, torch.Tensor] | None:
        from safetensors.torch import load_file

        path = self.array_path(kind, key)
        return load_file(str(path)) if path.is_file() else None

    # --- frames (tables of one result, e.g. per-latent statistics) -----------------------------
    def frame_path(self, kind: str, key: str) -> Path:
        return self.root / "frames" / kind / f"{key}.parquet"

    def put_frame(self, kind: str, key: str, df: pd.DataFrame, meta: dict | None = None) -> Path:
        """Write one result table as Parquet, atomically (written once under its key, read many times)."""
        path = self.frame_path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        with self._connect(write=True) as con:
            con.execute("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?, now())",
                        [f"frame:{kind}", key, str(path.relative_to(self.root)), json.dumps(meta or {}, default=str)])
        return path

    def get_frame(self, kind: str, key: str) -> pd.DataFrame | None:
        path = self.frame_path(kind, key)
        return pd.read_parquet(path) if path.is_file() else None

    def sae_dir(self, key: str) -> Path:
        """Where a trained SAE of this key lives, in sae_lens' folder format."""
        return self.root / "saes" / key
