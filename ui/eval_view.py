"""Evaluation tables: variants side by side, the best value of each row highlighted, and the paper's
published numbers beside them when asked (labelled: its model and layer differ)."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from saeviz.report.paper_numbers import SETTING_NOTE, paper_wide
from saeviz.report.plots import grouped_bars_figure, metric_label
from ui.export_ui import show_figure, table_exports

BAR_DEFAULTS = ("explained_variance", "cossim", "ce_loss_score", "kl_div_score", "frac_alive", "disentanglement",
                "mean_absorption_fraction", "sae_test_accuracy")
PAPER_PREFIX = "paper: "


def best_per_row(table: pd.DataFrame, variants: list[str], higher: dict[str, bool]) -> dict[int, str]:
    """{row index: the variant column holding the best value} for rows whose metric has a direction."""
    out = {}
    for idx, row in table.iterrows():
        direction = higher.get(row["metric"])
        values = {v: row[v] for v in variants if v in table and isinstance(row[v], (int, float)) and not math.isnan(row[v])}
        if direction is None or not values:
            continue
        out[idx] = (max if direction else min)(values, key=values.get)
    return out


def styled(table: pd.DataFrame, variants: list[str], higher: dict[str, bool]):
    best = best_per_row(table, variants, higher)

    def paint(row):
        return ["background-color: #c8e6c9; font-weight: 600" if best.get(row.name) == col else "" for col in row.index]

    fmt = {c: "{:.4g}" for c in table.columns if c not in ("eval", "item", "metric")}
    return table.style.apply(paint, axis=1).format(fmt, na_rep="")


def with_paper(table: pd.DataFrame, eval_name: str, site: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(our table with the paper's columns joined where (item, metric) match, the paper's own table)."""
    paper = paper_wide(eval_name, site)
    if paper.empty:
        return table, paper
    renamed = paper.rename(columns={c: PAPER_PREFIX + c for c in paper.columns if c not in ("item", "metric")})
    return table.merge(renamed, on=["item", "metric"], how="left"), paper


def variant_bars(table: pd.DataFrame, variants: list[str], higher: dict[str, bool], title: str, key: str,
                 specs: dict, cli: list[str], best_among: list[str] | None = None) -> None:
    """Grouped bars: per RAVEL pair / SCR threshold for one metric when the eval has items, else per metric."""
    has_items = table["item"].fillna("").ne("").any()
    if has_items:
        item_metrics = list(dict.fromkeys(table.loc[table["item"] != "", "metric"]))
        pick = [m for m in BAR_DEFAULTS if m in item_metrics] or item_metrics
        metric = st.selectbox("Metric per item", item_metrics, index=item_metrics.index(pick[0]), format_func=metric_label,
                              key=f"bars_metric_{key}")
        part = table[(table["metric"] == metric) & (table["item"] != "")].reset_index(drop=True)
        x, y_title = "item", metric_label(metric)
    else:
        metrics = list(dict.fromkeys(table["metric"]))
        chosen = st.multiselect("Metrics in the chart", metrics, default=[m for m in BAR_DEFAULTS if m in metrics][:5] or metrics[:4],
                                format_func=metric_label, key=f"bars_metrics_{key}")
        part = table[table["metric"].isin(chosen)].reset_index(drop=True)
        x, y_title = "metric", "value"
    if part.empty:
        return
    best = {part.loc[i, x]: v for i, v in best_per_row(part, best_among or variants, higher).items()}
    show_figure(grouped_bars_figure(part, x, variants, title, y_title, best=best), title, data=part, specs=specs, cli=cli, key=key)


def paper_section(eval_name: str, site: str, higher: dict[str, bool], key: str) -> None:
    paper = paper_wide(eval_name, site)
    if paper.empty:
        st.caption(f"The paper publishes no {eval_name} numbers for this site.")
        return
    st.caption(SETTING_NOTE)
    cols = [c for c in ("pretrained", "pruned25", "pruned50", "retrained") if c in paper]
    st.dataframe(styled(paper, cols, higher), hide_index=True, width="stretch")
    table_exports(paper, f"paper-{eval_name}-{site}", key=f"paper_{key}")
