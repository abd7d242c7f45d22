"""Where the text of a token set comes from: a Hugging Face dataset (streamed from the hub, or read from
the local cache when the hub cannot be reached) or local txt/jsonl/parquet files; each yields documents."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterator

from saeviz.errors import LoadError
from saeviz.model.hub import cache_only_when_offline, hub_reachable, missing_from_cache
from saeviz.specs import TextSource

LOCAL_SUFFIXES = (".txt", ".jsonl", ".json", ".jsonl.gz", ".json.gz", ".parquet")
# WANDA's calibration text: the first shard of C4's English training split
C4 = TextSource(dataset="allenai/c4", config="en", data_files=("en/c4-train.00000-of-01024.json.gz",))
ALIASES = {"c4": C4, "openwebtext": TextSource(dataset="Skylion007/openwebtext")}


def resolve_alias(source: TextSource) -> TextSource:
    return ALIASES.get(source.dataset, source)


def documents(source: TextSource) -> Iterator[str]:
    """The source's documents, in a fixed order (the same token set on every run)."""
    source = resolve_alias(source)
    path = Path(source.dataset).expanduser()
    if path.exists():
        return _local_documents(_local_files(path, source), source.column)
    if hub_reachable():
        return _streamed(source)
    return _cached(source)


def describe(source: TextSource) -> dict:
    source = resolve_alias(source)
    path = Path(source.dataset).expanduser()
    kind = "local files" if path.exists() else "hugging face dataset"
    return {"kind": kind, "dataset": str(path.resolve()) if path.exists() else source.dataset, "config": source.config,
            "split": source.split, "column": source.column, "data_files": list(source.data_files or ())}


def _local_files(path: Path, source: TextSource) -> list[Path]:
    if path.is_file():
        files = [path]
    else:
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(LOCAL_SUFFIXES))
        if source.data_files:
            files = [p for p in files if any(p.as_posix().endswith(f) for f in source.data_files)]
        elif source.config:  # a hub snapshot: keep the config's folder when it has one
            in_config = [p for p in files if source.config in p.relative_to(path).parts[:-1]]
            files = in_config or files
        if source.split:
            in_split = [p for p in files if source.split in p.name or source.split in p.relative_to(path).parts[:-1]]
            files = in_split or files
    bad = [p.name for p in files if not p.name.endswith(LOCAL_SUFFIXES)]
    if bad or not files:
        raise LoadError(f"No text files in {path}{': ' + ', '.join(bad) if bad else ''}: give .txt (one document "
                        "per blank-line-separated paragraph), .jsonl/.json(.gz) or .parquet files with a "
                        f"{source.column!r} column (--text-column).")
    return files


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.name.endswith(".gz") else open(path, encoding="utf-8")


def _local_documents(files: list[Path], column: str) -> Iterator[str]:
    for path in files:
        if path.name.endswith(".parquet"):
            yield from _parquet_documents(path, column)
        elif path.name.endswith(".txt"):
            with _open_text(path) as f:
                paragraph = []
                for line in f:
                    if line.strip():
                        paragraph.append(line)
                    elif paragraph:
                        yield "".join(paragraph)
                        paragraph = []
                if paragraph:
                    yield "".join(paragraph)
        else:
            with _open_text(path) as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        yield _field(json.loads(line), column, path, n)


def _field(row: dict, column: str, path, n) -> str:
    if column not in row:
        raise LoadError(f"{path} row {n} has no {column!r} field (it has {', '.join(list(row)[:6])}): pass --text-column.")
    return str(row[column])


def _parquet_documents(path: Path, column: str) -> Iterator[str]:
    # lazy: pyarrow takes a second to import
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    if column not in file.schema_arrow.names:
        raise LoadError(f"{path} has no {column!r} column (it has {', '.join(file.schema_arrow.names[:6])}): pass --text-column.")
    for batch in file.iter_batches(columns=[column], batch_size=1024):
        yield from (str(v) for v in batch.column(0).to_pylist() if v)


def _streamed(source: TextSource) -> Iterator[str]:
    # lazy: datasets takes seconds to import
    from datasets import load_dataset

    try:
        rows = load_dataset(source.dataset, source.config, split=source.split, streaming=True,
                            data_files=list(source.data_files) if source.data_files else None)
    except (OSError, ValueError) as exc:
        raise LoadError(f"Could not stream dataset {source.dataset!r} ({str(exc).splitlines()[0][:200]}): check "
                        "the name, --text-config and --text-split.") from None
    for n, row in enumerate(rows, 1):
        yield _field(row, source.column, source.dataset, n)


def _cached(source: TextSource) -> Iterator[str]:
    """Offline: a snapshot of the dataset repo in the hub cache (what `hf download --repo-type dataset`
    leaves), else what datasets itself prepared in its cache."""
    # lazy: huggingface_hub takes a second to import
    from huggingface_hub import snapshot_download

    with cache_only_when_offline():
        try:
            snapshot = Path(snapshot_download(source.dataset, repo_type="dataset", local_files_only=True))
        except (OSError, ValueError):
            snapshot = None
        if snapshot is not None:
            return _local_documents(_local_files(snapshot, source), source.column)
        # lazy: datasets takes seconds to import
        from datasets import load_dataset

        try:
            rows = load_dataset(source.dataset, source.config, split=source.split)
        except (OSError, ValueError, FileNotFoundError) as exc:
            raise missing_from_cache(f"Dataset {source.dataset!r} (split {source.split})", exc) from None
    return (_field(row, source.column, source.dataset, n) for n, row in enumerate(rows, 1))
