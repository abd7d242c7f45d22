"""Rendering the reproduction report: Markdown tables, a self-contained HTML page and the paper's Figure 1."""

from __future__ import annotations

import html
import math

import pandas as pd
import plotly.graph_objects as go

from saeviz.report import claims
from saeviz.report.plots import SITE_LABELS
from saeviz.report.plots import figure1 as sweep_figure1

COLUMNS = ["pretrained", "pruned25", "pruned50", "retrained"]
COLUMN_TITLES = {"pretrained": "Pretrained", "pruned25": "Pruned25", "pruned50": "Pruned50", "retrained": "Trained",
                 "dense": "Dense model (ref.)"}
TABLE1_METRICS = ["kl_div_score", "kl_div_with_sae", "ce_loss_score", "ce_loss_with_sae", "ce_loss_without_sae",
                  "explained_variance", "mse", "cossim", "l0"]
LOWER_IS_BETTER = {"kl_div_with_sae", "ce_loss_with_sae", "mse", "mean_absorption_fraction", "mean_full_absorption",
                   "mean_num_split_features", "tpp_unintended"}
NEUTRAL = {"ce_loss_without_sae", "l0", "n_letters", "n_words", "n_base_prompts", "n_tokens", "evaluable", "probe_mean_f1",
           "cause_all_latents", "llm_top_k_test_accuracy", "llm_test_accuracy"}
# what each evaluation's table shows (every row is in rows.csv); scalar rows only for absorption
REPORT_METRICS = {
    "absorption": ["mean_absorption_fraction", "mean_full_absorption", "mean_num_split_features", "std_absorption_fraction",
                   "std_full_absorption", "std_num_split_features", "evaluable", "n_letters", "n_words", "probe_mean_f1"],
    "ravel": ["disentanglement", "cause", "isolation", "cause_all_latents"],
    "scr": ["scr_dir1", "scr_metric", "scr_dir2"],
    "tpp": ["tpp_total", "tpp_intended", "tpp_unintended"],
    "probing": ["sae_top_k_test_accuracy", "llm_top_k_test_accuracy", "sae_test_accuracy", "llm_test_accuracy"],
}
SCALAR_ONLY = {"absorption"}
NOTES = {
    "absorption": ("sae_bench's absorption needs first-letter features its probes can find (F1 >= 0.6 on >= 20 letters); "
                   "`evaluable` 0 means the model does not encode first letters linearly at this site (`probe_mean_f1`), "
                   "so there is nothing to absorb. sae_bench recommends this eval for 1B+ models and 16k+ latent SAEs."),
    "ravel": ("`cause_all_latents` is the cause score when every latent is interchanged: where it is near 0 the model no "
              "longer carries the attribute at the entity's last token at this site, and no SAE can score there."),
}
SECTIONS = {"absorption": "Feature absorption (first-letter task)", "ravel": "RAVEL: disentanglement per entity-attribute pair",
            "scr": "Spurious correlation removal (SCR)", "tpp": "Targeted probe perturbation (TPP)", "probing": "Sparse probing"}


def _fmt(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


def table(rows: pd.DataFrame, eval_name: str, site: str, metrics: list[str] | None = None,
          columns: list[str] = COLUMNS) -> pd.DataFrame:
    """(item, metric) x variant columns for one evaluation at one site."""
    part = rows[(rows["eval"] == eval_name) & (rows["site"] == site)]
    if metrics is not None:
        part = part[part["metric"].isin(metrics)]
    if part.empty:
        return pd.DataFrame()
    wide = part.pivot_table(index=["item", "metric"], columns="column", values="value", aggfunc="first", sort=False)
    wide = wide[[c for c in columns if c in wide.columns]]
    if metrics is not None:
        order = {m: i for i, m in enumerate(metrics)}
        wide = wide.iloc[sorted(range(len(wide)), key=lambda i: (wide.index[i][0], order.get(wide.index[i][1], 99)))]
    return wide


def _best(metric: str, values: list) -> float | None:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals or metric in NEUTRAL or max(vals) == min(vals):  # nothing to single out
        return None
    return min(vals) if metric in LOWER_IS_BETTER else max(vals)


def markdown_table(wide: pd.DataFrame) -> str:
    """The table with the best value per row in bold (lower is better for losses, higher for scores)."""
    if wide.empty:
        return "_not computed_\n"
    head = ["item", "metric"] + [COLUMN_TITLES.get(c, c) for c in wide.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (item, metric), values in wide.iterrows():
        best = _best(metric, [v for c, v in values.items() if c != "dense"])  # the reference is not a contender
        cells = [f"**{_fmt(v)}**" if best is not None and v == best else _fmt(v) for v in values]
        lines.append("| " + " | ".join([item or "", metric] + cells) + " |")
    return "\n".join(lines) + "\n"


def figure1(rows: pd.DataFrame, layer: int, labels: dict[str, str] | None = None) -> go.Figure:
    """The paper's Figure 1 for the report's layer: CE with the SAE spliced in against SAE sparsity, one panel per
    site, with the pretrained, retrained and dense-model SAEs at their measured values (saeviz.report.plots)."""
    core = rows[(rows["eval"] == "core") & (rows["item"] == "") & (rows["layer"] == layer)]
    fig = sweep_figure1(core, labels)
    fig.update_layout(title=f"Figure 1, layer {layer}: CE with the SAE spliced in vs SAE sparsity<br><sup>dashed: pretrained, "
                            "dash-dot: retrained, dotted: the pretrained SAE on the dense model</sup>")
    return fig


def _sections(data) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(title, note, [(site label, markdown table)]) for every table of the report."""
    rows, spec = data.rows, data.spec
    labels = {**SITE_LABELS, **getattr(data, "site_labels", {})}
    core = [(labels[site], markdown_table(table(rows, "core", site, TABLE1_METRICS, COLUMNS + ["dense"])))
            for site in spec.sites]
    out = [("Table 1: core metrics (saeviz definitions)", "", core)]
    for name in spec.evals:
        shown = rows[(rows["item"] == "") | (name not in SCALAR_ONLY)]
        tables = [(labels[site], markdown_table(table(shown, name, site, REPORT_METRICS.get(name))))
                  for site in spec.deep_sites]
        out.append((SECTIONS.get(name, name), NOTES.get(name, ""), tables))
    return out


def _claims_md(data) -> str:
    verdicts = claims.check_all(data.rows, data.spec.sites)
    word = {True: "holds", False: "does not hold", None: "not decided"}
    lines = [f"- **{word[v.holds]}**: {v.claim}. {v.evidence}" for v in verdicts]
    mismatches = claims.l0_mismatches(data.rows, data.spec.sites)
    lines.append("- L0 differs by more than 2x from the pretrained SAE (not L0-matched): " + ("; ".join(mismatches) or "none"))
    return "\n".join(lines) + "\n"


def _intro(data) -> str:
    s = data.spec
    return (f"Model `{data.model}` compressed as **{s.compression.label()}**, layer {data.layer}, SAE pruning "
            f"{s.sae_prune_method}; Trained = an SAE retrained from scratch on the compressed model for "
            f"{s.train.training_tokens:,} tokens; core metrics on {s.eval.n_sequences} evaluation sequences "
            "(BOS/EOS positions excluded; CE/KL with the SAE spliced in at ordinary positions). Every number is "
            "read from saeviz's cache; `specs.json` lists the specs that produced them. sae_bench 0.6's own core "
            "numbers differ in mse (it divides by tokens per batch, not d_in) and explained variance (its total-"
            "variance formula); see the README.\n")


def render_markdown(data) -> str:
    parts = [f"# Reproduction report: {data.spec.compression.label()}\n", _intro(data), "## The paper's claims on this model\n",
             _claims_md(data)]
    for title, note, tables in _sections(data):
        parts.append(f"## {title}\n" + (f"\n{note}\n" if note else "")
                     + "".join(f"\n**{label}**\n\n{md}" for label, md in tables))
    parts.append("## Figure 1\n![Figure 1](figure1.png)\n\nCE with the SAE spliced in against SAE sparsity, 25%-99%, one "
                 "panel per site, with the Pretrained and Trained SAEs (and the dense model's) at their measured values "
                 "(the paper's plotting notebook drew 'Trained' at the pruned minimum + 0.1); interactive in `report.html`.\n")
    parts.append(f"Computed or read in {data.seconds:.0f} s.\n")
    return "\n".join(parts)


def _md_table_to_html(md: str) -> str:
    lines = [l for l in md.strip().splitlines() if l.startswith("|")]
    if not lines:
        return f"<p>{html.escape(md.strip())}</p>"

    def cells(line):
        return [c.strip() for c in line.strip("|").split("|")]

    head = "".join(f"<th>{html.escape(c)}</th>" for c in cells(lines[0]))
    body = ""
    for line in lines[2:]:
        row = "".join(f"<td><b>{html.escape(c[2:-2])}</b></td>" if c.startswith("**") else f"<td>{html.escape(c)}</td>"
                      for c in cells(line))
        body += f"<tr>{row}</tr>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data, fig=None) -> str:
    """The report as one self-contained HTML page (``fig``: Figure 1 when the caller has built it already)."""
    fig = fig if fig is not None else figure1(data.rows, data.layer, data.site_labels)
    blocks = []
    for title, note, tables in _sections(data):
        inner = (f"<p>{html.escape(note)}</p>" if note else "") + "".join(
            f"<h3>{html.escape(label)}</h3>{_md_table_to_html(md)}" for label, md in tables)
        blocks.append(f"<h2>{html.escape(title)}</h2>{inner}")
    claims_html = "".join(f"<li>{html.escape(line[2:])}</li>" for line in _claims_md(data).splitlines())
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}table{border-collapse:collapse;"
             "margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>saeviz report</title><style>{style}</style></head><body>"
            f"<h1>Reproduction report: {html.escape(data.spec.compression.label())}</h1><p>{html.escape(_intro(data))}</p>"
            f"<h2>The paper's claims on this model</h2><ul>{claims_html}</ul>"
            f"{fig.to_html(full_html=False, include_plotlyjs=True)}{''.join(blocks)}</body></html>")
