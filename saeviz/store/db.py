"""The cache: one DuckDB file plus safetensors arrays under cache/; the only module that knows SQL.

DuckDB admits one read-write process or many read-only ones, never both. Every access here is a
short-lived connection guarded by an advisory file lock (shared for reads, exclusive for writes)
and, inside a process, by a thread lock (Streamlit serves sessions from threads). So a CLI sweep
and an open dashboard share one cache: each waits at most a write's few milliseconds. Arrays live
in their own files, written atomically, and are read without touching the database.

Faults: a write connection is one transaction, so a process killed mid-write leaves every run whole
or absent; temp files of killed writers are ignored by readers and removed by the next writer. A
read-only cache folder still serves reads (DuckDB read-only, the folder's lock file opened for
reading or a per-user one); writes are refused with CacheReadOnly before any work is lost.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch

from saeviz.errors import SaevizError, UnsafePathError
from saeviz.store.atomic import remove_stale_temps, write_atomic
from saeviz.store.safe_paths import ensure_writable_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
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
    """Another process held the cache's lock for longer than the Store's lock timeout."""


class CacheCorrupt(SaevizError):
    """The cache file exists but is not a DuckDB database."""


class CacheReadOnly(UnsafePathError):
    """The cache folder cannot be written: what it holds stays readable, new results are refused."""


READ_ONLY_HINT = ("point SAEVIZ_CACHE_DIR (or --cache-dir) at a folder you can write to; "
                  "results already in this cache stay readable")


def fallback_lock_path(root: Path) -> Path:
    """A per-user lock file for a cache folder that holds none and cannot be written (readers only)."""
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"saeviz-locks-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{digest}.lock"


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


_SCHEMA_CURRENT: set[tuple] = set()  # database files this process has seen at the current schema


def _file_identity(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (str(path), st.st_dev, st.st_ino)


def _ensure_schema(con, path: Path | None = None) -> None:
    """Create the tables, migrating a cache written by an older saeviz in place (rows kept). Checked once
    per file and process: the schema of a file only ever moves forward."""
    identity = _file_identity(path) if path is not None else None
    if identity is not None and identity in _SCHEMA_CURRENT:
        return
    _ensure_schema_now(con)
    if identity is not None:
        _SCHEMA_CURRENT.add(identity)


def _ensure_schema_now(con) -> None:
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


_COLUMN_TYPES: dict[str, dict[str, str]] = {}


def _insert_rows(con, table: str, columns: list[str], rows: list[list], key: list[str], extra: dict[str, str] | None = None) -> None:
    """INSERT OR REPLACE ``rows`` in one statement (executemany runs one per row: ~100x slower here);
    the last of several rows with one key wins, as it did row by row."""
    if not rows:
        return
    frame = pd.DataFrame(rows, columns=columns).drop_duplicates(key, keep="last")
    if table not in _COLUMN_TYPES:  # fixed by SCHEMA: looked up once per process
        _COLUMN_TYPES[table] = dict(con.execute(
            f"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{table}'").fetchall())
    types = _COLUMN_TYPES[table]
    select = [f'CAST("{c}" AS {types[c]})' for c in columns] + list((extra or {}).values())
    con.register("_saeviz_rows", frame)
    try:
        con.execute(f"INSERT OR REPLACE INTO {table} ({', '.join([*columns, *(extra or {})])}) "
                    f"SELECT {', '.join(select)} FROM _saeviz_rows")
    finally:
        con.unregister("_saeviz_rows")


class _MetricWrites:
    """Metric rows and timings of one or more runs, written as one INSERT each (a deferred write op)."""

    def __init__(self):
        self.rows: list[list] = []
        self.timings: list[list] = []

    def extend(self, other: "_MetricWrites") -> None:
        self.rows += other.rows
        self.timings += other.timings

    def __call__(self, con) -> None:
        _insert_rows(con, "metrics", METRIC_COLUMNS, self.rows, key=["run_key", "item", "metric"], extra={"created": "now()"})
        for timing in self.timings:
            con.execute("INSERT OR REPLACE INTO timings VALUES (?, ?, ?, ?, ?, now())", timing)


PRIMARY_KEYS = {"metrics": ["run_key", "item", "metric"], "compress_stats": ["compress_key", "layer", "matrix"],
                "timings": ["job_key"], "artifacts": ["kind", "key"]}
_RECORD_KEY = {"metrics": "run_key", "compress_stats": "compress_key", "timings": "job_key", "artifacts": "kind || '/' || key"}


class Journal:
    """The keys one block of work wrote, per table (and the folders it wrote): what a Ray worker ships back."""

    def __init__(self):
        self.keys: dict[str, set[str]] = {table: set() for table in PRIMARY_KEYS}
        self.dirs: set[str] = set()


class Store:
    """Keyed reads and writes of results; safe across threads and processes."""

    def __init__(self, root: Path | None = None, lock_timeout_s: float = 120.0, shared: Path | None = None):
        self.root = Path(root or cache_dir())
        # a Ray worker's view of the driver's cache on a shared disk: its arrays, frames and SAEs are read
        # from there when this store lacks them (never written: the driver is the only writer)
        self.shared = Path(shared) if shared is not None else None
        self._journal: Journal | None = None
        self.db_path = self.root / "saeviz.duckdb"
        self.lock_timeout_s = lock_timeout_s
        self._thread_lock = _THREAD_LOCKS.setdefault(str(self.db_path), threading.RLock())
        self._checked = False
        self._writable = False  # only a success is remembered: a folder may become writable later
        self._pending: list | None = None  # database writes deferred by batch()
        self._batch_owner: int | None = None  # the thread whose writes are deferred (sessions share a Store)

    @contextmanager
    def batch(self):
        """Defer this thread's database writes to one transaction at the end of the block (a sweep unit:
        about twenty writes, each a DuckDB open of ~20 ms, become one). Arrays and frames are still written
        to their files at once; their index rows and metric rows land together, also when the block is left
        by an exception (a cancel keeps what was finished)."""
        if self._pending is not None:  # nested, or another thread's batch: writes go where _write sends them
            yield self
            return
        self._pending, self._batch_owner = [], threading.get_ident()
        try:
            yield self
        finally:
            self.flush()
            self._pending, self._batch_owner = None, None

    def flush(self) -> None:
        """Write the current batch's deferred writes now (after long work, so that a kill cannot lose it)."""
        if not self._pending or threading.get_ident() != self._batch_owner:
            return
        ops, self._pending = self._pending, []
        with self._connect(write=True) as con:
            for op in ops:
                op(con)

    @contextmanager
    def recording(self):
        """Record the keys written inside the block (by any thread), for saeviz.store.transfer."""
        journal = self._journal = Journal()
        try:
            yield journal
        finally:
            self._journal = None

    def _note(self, table: str, key: str) -> None:
        if self._journal is not None:
            self._journal.keys[table].add(key)

    def note_dir(self, path: Path) -> None:
        """A folder of results written under the cache root (a trained SAE), for the journal."""
        if self._journal is not None:
            self._journal.dirs.add(str(Path(path).relative_to(self.root)))

    def readable(self, path: Path) -> Path:
        """``path`` under this cache, or the same file in the shared cache when only that one has it."""
        if self.shared is not None and not path.exists():
            other = self.shared / path.relative_to(self.root)
            if other.exists():
                return other
        return path

    def _write(self, op) -> None:
        """Run ``op(con)`` in a write transaction now, or at the end of the current batch."""
        pending = self._pending
        if pending is not None and threading.get_ident() == self._batch_owner:
            pending.append(op)
            return
        with self._connect(write=True) as con:
            op(con)

    # --- connections -----------------------------------------------------------------------
    def ensure_writable(self) -> Path:
        """Create the cache folder if missing and check it can be written; CacheReadOnly if not.

        Call it before expensive work whose result must be stored, so that nothing computed is lost."""
        if not self._writable:
            try:
                ensure_writable_dir(self.root, "The cache folder", READ_ONLY_HINT)
            except UnsafePathError as exc:
                raise CacheReadOnly(str(exc)) from None
            remove_stale_temps(self.root)
            self._writable = True
        return self.root

    def _open_lock(self, write: bool):
        """The lock file: the cache's own (shared by every process), else a per-user one for readers."""
        path = self.root / "saeviz.lock"
        if write:
            self.ensure_writable()
            return open(path, "a+")
        try:
            return open(path, "a+")
        except OSError:  # a read-only folder or lock file: flock works on a file opened for reading
            pass
        try:
            return open(path)
        except FileNotFoundError:  # nobody ever wrote here, so no writer can be running
            return open(fallback_lock_path(self.root), "a+")

    @contextmanager
    def _connect(self, write: bool):
        """A short-lived connection under the locks; a write connection is one transaction (all or nothing)."""
        if not write and not self.db_path.exists():
            yield None
            return
        with self._thread_lock, self._open_lock(write) as lock_file:
            self._flock(lock_file, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            try:
                if not write and not self.db_path.exists():
                    yield None
                    return
                con = self._open_db(write)
                try:
                    if not write:
                        yield con
                        return
                    # executemany is one statement per row: without a transaction a kill leaves half a run
                    con.begin()
                    try:
                        _ensure_schema(con, self.db_path)
                        yield con
                    except BaseException:
                        try:
                            con.rollback()
                        except Exception:  # the connection is closed below; DuckDB drops what was not committed
                            pass
                        raise
                    con.commit()
                finally:
                    con.close()
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _open_db(self, write: bool):
        """Open DuckDB, retrying while a writer that does not share our lock file (see _open_lock) holds it."""
        # lazy: duckdb loads only when the cache is opened
        import duckdb

        deadline = time.monotonic() + self.lock_timeout_s
        while True:
            try:
                return duckdb.connect(str(self.db_path), read_only=not write)
            except duckdb.IOException as exc:
                if "not a valid duckdb database" in str(exc).lower():
                    raise CacheCorrupt(
                        f"The cache file {self.db_path} is not a DuckDB database (damaged, or another program's file): "
                        f"move it aside (mv {self.db_path} {self.db_path}.bad) and rerun to start a fresh cache, or "
                        "choose another cache folder (--cache-dir or SAEVIZ_CACHE_DIR). Results in that file cannot be "
                        "read.") from None
                if write or "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

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
        if self._checked or _file_identity(self.db_path) in _SCHEMA_CURRENT:
            self._checked = True  # this process has seen the file current: no connection needed
            return
        with self._connect(write=False) as con:
            old = con is not None and _schema_version(con) < SCHEMA_VERSION
        if old:
            with self._connect(write=True):
                pass
        elif (identity := _file_identity(self.db_path)) is not None:
            _SCHEMA_CURRENT.add(identity)
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
    def put_metrics(self, run: dict, values: dict[str, float] | None = None, rows=None, timing: dict | None = None) -> None:
        """One run (run_key, model, compression, site, layer, variant, sae_sparsity, eval) and its values:
        ``values`` {metric: value} (item ''), or ``rows`` a DataFrame with item, metric, value columns; with
        ``timing`` (kind, label, seconds) its wall time too, in the same transaction."""
        base = [run.get(c) for c in RUN_COLUMNS[:-1]] + [run.get("eval") or "core"]
        items = [("", name, v) for name, v in (values or {}).items()]
        if rows is not None:
            items += list(zip(rows["item"].astype(str), rows["metric"].astype(str), rows["value"].astype(float)))
        self._note("metrics", run.get("run_key"))
        if timing is not None:
            self._note("timings", run.get("run_key"))
        batch = _MetricWrites()
        batch.rows += [base + [item, name, float(v)] for item, name, v in items]
        if timing is not None:
            batch.timings.append([run.get("run_key"), timing["kind"], timing["label"], timing["seconds"], timing.get("tokens", 0)])
        pending = self._pending
        if pending and threading.get_ident() == self._batch_owner and isinstance(pending[-1], _MetricWrites):
            pending[-1].extend(batch)  # consecutive runs of a batch: one INSERT (order with other writes kept)
            return
        self._write(batch)

    def has_run(self, run_key: str) -> bool:
        return len(self._query("SELECT 1 FROM metrics WHERE run_key = ? LIMIT 1", [run_key])) > 0

    def run_metrics(self, run_key: str) -> dict[str, float]:
        """{metric: value} of a run's scalar rows (item '')."""
        df = self._query("SELECT metric, value FROM metrics WHERE run_key = ? AND item = ''", [run_key])
        return dict(zip(df["metric"], df["value"])) if len(df) else {}

    def runs_rows(self, run_keys: list[str]) -> dict[str, pd.DataFrame]:
        """{run_key: its rows (item, metric, value)} for the keys that are stored, in one query."""
        if not run_keys:
            return {}
        df = self._query("SELECT run_key, item, metric, value FROM metrics WHERE list_contains(?, run_key) "
                         "ORDER BY run_key, item, metric", [list(dict.fromkeys(run_keys))])
        if df.empty:
            return {}
        return {key: part.drop(columns="run_key").reset_index(drop=True) for key, part in df.groupby("run_key", sort=False)}

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
        values = [[r.get(c) for c in cols] for r in rows]
        for r in rows:
            self._note("compress_stats", r.get("compress_key"))
        self._write(lambda con: _insert_rows(con, "compress_stats", cols, values, key=["compress_key", "layer", "matrix"]))

    def compress_stats(self, compress_key: str) -> pd.DataFrame:
        return self._query("SELECT * FROM compress_stats WHERE compress_key = ? ORDER BY layer, matrix", [compress_key])

    def put_timing(self, job_key: str, kind: str, label: str, seconds: float, tokens: int = 0) -> None:
        self._note("timings", job_key)
        self._write(lambda con: con.execute("INSERT OR REPLACE INTO timings VALUES (?, ?, ?, ?, ?, now())",
                                            [job_key, kind, label, seconds, tokens]))

    def timings(self, kind: str | None = None) -> pd.DataFrame:
        if kind is None:
            return self._query("SELECT * FROM timings ORDER BY created")
        return self._query("SELECT * FROM timings WHERE kind = ? ORDER BY created", [kind])

    # --- arrays -----------------------------------------------------------------------------
    def array_path(self, kind: str, key: str) -> Path:
        return self.root / "arrays" / kind / f"{key}.safetensors"

    def put_tensors(self, kind: str, key: str, tensors: dict[str, torch.Tensor], meta: dict | None = None) -> Path:
        # lazy: safetensors loads only when this runs, so importing saeviz.store.db stays light
        from safetensors.torch import save_file

        path = self.array_path(kind, key)
        self.ensure_writable()
        path.parent.mkdir(parents=True, exist_ok=True)
        # clone: callers may pass one tensor under several names (W_Q, W_K, W_V share an input norm)
        flat = {k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}
        write_atomic(path, lambda tmp: save_file(flat, str(tmp)))
        row = [kind, key, str(path.relative_to(self.root)), json.dumps(meta or {}, default=str)]
        self._note("artifacts", f"{kind}/{key}")
        self._write(lambda con: con.execute("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?, now())", row))
        return path

    def get_tensors(self, kind: str, key: str) -> dict[str, torch.Tensor] | None:
        # lazy: safetensors loads only when this runs, so importing saeviz.store.db stays light
        from safetensors.torch import load_file

        path = self.readable(self.array_path(kind, key))
        return load_file(str(path)) if path.is_file() else None

    def has_array(self, kind: str, key: str) -> bool:
        return self.readable(self.array_path(kind, key)).is_file()

    # --- frames (tables of one result, e.g. per-latent statistics) -----------------------------
    def frame_path(self, kind: str, key: str) -> Path:
        return self.root / "frames" / kind / f"{key}.parquet"

    def put_frame(self, kind: str, key: str, df: pd.DataFrame, meta: dict | None = None) -> Path:
        """Write one result table as Parquet, atomically (written once under its key, read many times)."""
        path = self.frame_path(kind, key)
        self.ensure_writable()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda tmp: df.to_parquet(tmp, index=False))
        row = [f"frame:{kind}", key, str(path.relative_to(self.root)), json.dumps(meta or {}, default=str)]
        self._note("artifacts", f"frame:{kind}/{key}")
        self._write(lambda con: con.execute("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?, now())", row))
        return path

    def get_frame(self, kind: str, key: str) -> pd.DataFrame | None:
        path = self.readable(self.frame_path(kind, key))
        return pd.read_parquet(path) if path.is_file() else None

    # --- whole tables, by key (what a Ray worker ships and its driver writes) ------------------------
    def table_rows(self, table: str, keys: list[str]) -> pd.DataFrame:
        """Every row of ``table`` whose record key (run_key, compress_key, job_key, kind/key) is in ``keys``."""
        if not keys:
            return pd.DataFrame()
        return self._query(f"SELECT * FROM {table} WHERE list_contains(?, {_RECORD_KEY[table]})", [sorted(keys)])

    def put_table_rows(self, table: str, frame: pd.DataFrame) -> None:
        """Rows as ``table_rows`` returned them, inserted or replaced by primary key."""
        if len(frame):
            columns, values = list(frame.columns), frame.astype(object).where(frame.notna(), None).values.tolist()
            self._write(lambda con: _insert_rows(con, table, columns, values, key=PRIMARY_KEYS[table]))

    def sae_dir(self, key: str) -> Path:
        """Where a trained SAE of this key lives, in sae_lens' folder format."""
        return self.root / "saes" / key
