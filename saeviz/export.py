"""Writing tables (CSV/Parquet) and, later, figures; the suffix picks the format."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TABLE_WRITERS = {
    ".csv": lambda df, path: df.to_csv(path, index=False),
    ".parquet": lambda df, path: df.to_parquet(path, index=False),
}


def export_table(df: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    writer = TABLE_WRITERS.get(path.suffix.lower())
    if writer is None:
        raise ValueError(f"Cannot export a table to {path.name!r}: use a {' or '.join(TABLE_WRITERS)} file name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer(df, path)
    return path
