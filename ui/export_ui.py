"""Export controls under every figure and table: PNG/SVG/PDF/HTML, CSV/Parquet, and 'Add to pack'.

Image files are rendered only when their button is clicked (Streamlit's deferred download data), so a
page with ten figures does not start chromium ten times per rerun. Ticked figures go to the session's
comparison pack (the Export pack page builds the zip)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from saeviz.report.export import FIGURE_FORMATS, MIME, PackItem, figure_bytes, slug, table_bytes
from ui import icons

PACK_KEY = "comparison_pack"


def pack() -> dict[str, PackItem]:
    return st.session_state.setdefault(PACK_KEY, {})


def _toggle_pack(name: str, item: PackItem, key: str) -> None:
    if st.session_state[key]:
        pack()[name] = item
    else:
        pack().pop(name, None)


def show_figure(fig, title: str, data: pd.DataFrame | None = None, specs: dict | None = None,
                cli: list[str] | None = None, key: str | None = None) -> None:
    """The figure, then one row of export buttons and the pack checkbox."""
    key = key or slug(title)
    st.plotly_chart(fig, width="stretch", key=f"chart_{key}")
    figure_exports(fig, title, data, specs, cli, key)


def figure_exports(fig, title: str, data: pd.DataFrame | None, specs: dict | None, cli: list[str] | None, key: str) -> None:
    name = slug(title)
    row = st.container(horizontal=True, vertical_alignment="center", gap="medium")
    with row.popover("Export", icon=icons.DOWNLOAD, width="content"):
        st.caption("This figure" + (" and the rows it plots" if data is not None else ""))
        for fmt in FIGURE_FORMATS:
            st.download_button(fmt.upper(), data=lambda f=fmt: figure_bytes(fig, f), file_name=f"{name}.{fmt}", mime=MIME[fmt],
                               key=f"dl_{fmt}_{key}", on_click="ignore", icon=icons.IMAGE, width="stretch",
                               help=f"Download the figure as {fmt.upper()}" + (" (self-contained, opens offline)" if fmt == "html" else ""))
        if data is not None:
            for fmt in ("csv", "parquet"):
                st.download_button(f"Data as {fmt.upper()}", data=lambda f=fmt: table_bytes(data, f), file_name=f"{name}.{fmt}",
                                   mime=MIME[fmt], key=f"dl_{fmt}_{key}", on_click="ignore", icon=icons.TABLE, width="stretch")
    item = PackItem(title, fig, data, specs or {}, cli or [])
    box = f"pack_{key}"
    st.session_state.setdefault("pack_boxes", {})[name] = box
    ticked = name in pack()
    if ticked:
        pack()[name] = item  # keep the pack's copy current with the page's choices
    row.checkbox("Add to pack", value=ticked, key=box, on_change=_toggle_pack, args=(name, item, box),
                    help="Collect this figure, its data and its specs for the Export pack page.")


def table_exports(df: pd.DataFrame, name: str, key: str | None = None) -> None:
    key = key or slug(name)
    cols = st.columns([1, 1, 6], gap="small")
    for col, fmt in zip(cols, ("csv", "parquet")):
        col.download_button(fmt.upper(), data=lambda f=fmt: table_bytes(df, f), file_name=f"{slug(name)}.{fmt}", mime=MIME[fmt],
                            key=f"tdl_{fmt}_{key}", on_click="ignore", icon=icons.TABLE, width="stretch")
