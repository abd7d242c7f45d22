"""Writing figures (PNG/SVG/PDF through Kaleido and a local chromium, self-contained HTML), tables
(CSV/Parquet) and comparison packs (a zip of figures, their data, the specs that produced them and a
README saying how to regenerate them with the CLI). The suffix or ``fmt`` picks the format.

Offline by construction: Kaleido 1.x drives the machine's chromium (Debian's /usr/bin/chromium), the
HTML embeds plotly.js instead of linking a CDN, and no figure uses LaTeX (MathJax comes from a CDN).
"""

from __future__ import annotations

import atexit
import io
import json
import re
import threading
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from saeviz.errors import SaevizError

FIGURE_FORMATS = ("png", "svg", "pdf", "html")
TABLE_FORMATS = ("csv", "parquet")
MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf", "html": "text/html",
        "csv": "text/csv", "parquet": "application/vnd.apache.parquet", "zip": "application/zip", "json": "application/json"}
_KALEIDO_LOCK = threading.Lock()
_KALEIDO_STARTED = False


class ExportError(SaevizError):
    """A figure could not be rendered to an image (no chromium, no kaleido)."""


def export_table(df: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"Cannot export a table to {path.name!r}: use a {' or '.join('.' + f for f in TABLE_FORMATS)} file name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(table_bytes(df, fmt))
    return path


def table_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    """A table as CSV (UTF-8) or Parquet bytes."""
    if fmt == "csv":
        return df.to_csv(index=False).encode()
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return buf.getvalue()
    raise ValueError(f"Table format {fmt!r} unknown: use one of {TABLE_FORMATS}.")


def _ensure_kaleido() -> None:
    """Start Kaleido's persistent chromium once per process: ~3-5 s for the first image, ~0.3 s after."""
    global _KALEIDO_STARTED
    if _KALEIDO_STARTED:
        return
    try:
        # lazy: kaleido starts a browser and is only for image export
        import kaleido
    except ImportError:
        raise ExportError("Image export needs the kaleido package: run `make setup` (or pip install kaleido).") from None
    try:
        kaleido.start_sync_server(silence_warnings=True)
    except Exception as exc:  # no chromium, or one that does not start
        raise ExportError(f"Kaleido could not start chromium ({type(exc).__name__}: {exc}); install Debian's chromium "
                          "(`make setup` does it where apt-get is usable).") from None

    atexit.register(kaleido.stop_sync_server, silence_warnings=True)  # chromium must not outlive the process
    _KALEIDO_STARTED = True


def figure_bytes(fig, fmt: str, width: int = 1200, height: int | None = None, scale: float = 2.0) -> bytes:
    """A plotly figure as PNG, SVG, PDF or a self-contained HTML page (plotly.js embedded, no CDN)."""
    if fmt == "html":
        return fig.to_html(include_plotlyjs=True, full_html=True, include_mathjax=False).encode()
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"Figure format {fmt!r} unknown: use one of {FIGURE_FORMATS}.")
    height = height or int(fig.layout.height or 500)
    with _KALEIDO_LOCK:  # one chromium tab at a time: Streamlit sessions call from several threads
        _ensure_kaleido()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "kopts ignored with a server": the server has its own
            try:
                return fig.to_image(format=fmt, width=width, height=height, scale=scale if fmt == "png" else 1)
            except Exception as exc:
                raise ExportError(f"Rendering the figure as {fmt.upper()} failed ({type(exc).__name__}: {exc}).") from None


def export_figure(fig, path: str | Path, **kwargs) -> Path:
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"Cannot export a figure to {path.name!r}: use a .png, .svg, .pdf or .html file name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(figure_bytes(fig, fmt, **kwargs))
    return path


def slug(text: str, max_len: int = 60) -> str:
    """A file-name-safe version of a title: 'EV vs SAE sparsity (resid)' -> 'ev-vs-sae-sparsity-resid'."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out[:max_len].rstrip("-") or "figure"


@dataclass(eq=False)
class PackItem:
    """One ticked figure of a comparison pack: the figure, the rows it plots, the specs that produced
    them (plain JSON-able values) and the CLI commands that recompute them headless."""

    title: str
    figure: object
    data: pd.DataFrame | None = None
    specs: dict = field(default_factory=dict)
    cli: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.title.strip():
            raise ValueError("A pack item needs a title (it names the files in the zip).")
        json.dumps(self.specs, default=str)  # fails early on values a JSON file cannot hold


def pack_readme(items: list[PackItem], names: list[str], created: str) -> str:
    lines = ["# saeviz comparison pack", "", f"Created {created} by the saeviz dashboard.", "",
             "Each figure comes as PNG, SVG, PDF and a self-contained HTML file (`figures/`), with the rows it plots "
             "(`data/`, CSV and Parquet) and the specs that produced them (`specs/`, and all of them in `specs.json`).", "",
             "## Regenerating the numbers", "",
             "Install saeviz (`make setup`), then run the commands below from its repository. Results land in the cache "
             "(`cache/` or `$SAEVIZ_CACHE_DIR`); a second run reads them back instead of recomputing. Open the dashboard "
             "(`make app`) on the same cache to redraw the figures, or `--export rows.csv` the rows.", ""]
    for item, name in zip(items, names):
        lines += [f"### {item.title}", "", f"Files: `figures/{name}.*`, `data/{name}.*`, `specs/{name}.json`", ""]
        if item.cli:
            lines += ["```bash", *item.cli, "```", ""]
        else:
            lines += ["(no CLI command: this figure is drawn from published or shipped numbers)", ""]
    return "\n".join(lines)


def comparison_pack(items: list[PackItem], figure_formats: tuple[str, ...] = FIGURE_FORMATS,
                    table_formats: tuple[str, ...] = TABLE_FORMATS) -> bytes:
    """A zip of the ticked figures, their data, their specs and a README with the CLI commands."""
    if not items:
        raise ValueError("The comparison pack is empty: tick 'Add to pack' under the figures you want in it.")
    names, seen = [], {}
    for item in items:
        base = slug(item.title)
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("README.md", pack_readme(items, names, created))
        zf.writestr("specs.json", json.dumps({n: {"title": i.title, "specs": i.specs, "cli": i.cli} for n, i in zip(names, items)},
                                             indent=2, default=str))
        for item, name in zip(items, names):
            for fmt in figure_formats:
                zf.writestr(f"figures/{name}.{fmt}", figure_bytes(item.figure, fmt))
            if item.data is not None:
                for fmt in table_formats:
                    zf.writestr(f"data/{name}.{fmt}", table_bytes(item.data, fmt))
            zf.writestr(f"specs/{name}.json", json.dumps({"title": item.title, "specs": item.specs, "cli": item.cli},
                                                         indent=2, default=str))
    return buf.getvalue()
