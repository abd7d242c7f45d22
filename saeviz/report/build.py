"""The reproduction report: the paper's tables and Figure 1 for one compressed model, computed through the
cache (what is there is read, what is missing is computed with progress) and rendered as Markdown and a
self-contained HTML file."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from saeviz.jobs import Progress, report
from saeviz.report.export import export_figure
from saeviz.report.plots import site_label
from saeviz.sae.variants import VariantSpec, paper_variants, variant_label
from saeviz.specs import SITES, CompressSpec, EvalSpec, TrainSpec, _help, middle_layer

FIGURE_SPARSITIES = (0.25, 0.5, 0.75, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class ReportSpec:
    """What the reproduction report computes and shows."""

    compression: CompressSpec = _help("The compressed model (the paper: WANDA 50%).", default_factory=CompressSpec)
    layer: int | None = _help("The layer of every table (None: the middle layer, (n_layers - 1) // 2: 12 of Gemma-2-2B's 26, "
                                "the paper's; 1 of the embedded model's 4).", default=None)
    sites: tuple[str, ...] = _help("Sites of Table 1 and Figure 1.", default=SITES)
    evals: tuple[str, ...] = _help("Evaluations besides core.", default=("absorption", "ravel", "scr", "tpp"))
    deep_sites: tuple[str, ...] = _help("Sites the evaluations besides core run at (the paper: MLP and residual).",
                                        default=("mlp", "resid"))
    train: TrainSpec = _help("How the 'Trained' SAE is retrained on the compressed model.", default_factory=TrainSpec)
    eval: EvalSpec = _help("Core evaluation settings.", default_factory=EvalSpec)
    figure_sparsities: tuple[float, ...] = _help("SAE sparsities of Figure 1 (the paper: 25% to 99%).", default=FIGURE_SPARSITIES)
    sae_prune_method: str = _help("How the SAE is pruned: wanda or magnitude.", default="wanda")

    def __post_init__(self):
        for name in ("sites", "evals", "deep_sites", "figure_sparsities"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        bad = [s for s in (*self.sites, *self.deep_sites) if s not in SITES]
        if bad:
            raise ValueError(f"Sites {bad} not understood: choose from {SITES}.")

    def variants(self) -> list[VariantSpec]:
        return paper_variants(self.train, self.sae_prune_method)


@dataclass
class ReportData:
    spec: ReportSpec
    layer: int
    model: str
    rows: pd.DataFrame  # tidy rows of every evaluation, with 'column' = variant label
    seconds: float
    site_labels: dict = field(default_factory=dict)  # site -> what its SAEs read ('residual pre' for res-jb)


def _units(spec: ReportSpec, layer: int) -> list[tuple[str, str, list[VariantSpec]]]:
    """(site, evaluation, variants) in the order they are computed: cheap first, retraining once per site."""
    units = []
    figure = [VariantSpec("dense")] + [VariantSpec("pruned", s, spec.sae_prune_method) for s in spec.figure_sparsities]
    for site in spec.sites:
        units.append((site, "core", spec.variants() + figure))
    for name in spec.evals:
        units += [(site, name, spec.variants()) for site in spec.deep_sites if site in spec.sites]
    return units


def for_sites(spec: ReportSpec, available: tuple[str, ...]) -> ReportSpec:
    """The spec cut to the sites that have SAEs (a residual-stream release has no attn or mlp SAEs)."""
    sites = tuple(s for s in spec.sites if s in available)
    if not sites:
        raise ValueError(f"The report asks for sites {', '.join(spec.sites)}, but the SAEs cover {', '.join(available)} only: "
                         "choose those sites.")
    return replace(spec, sites=sites, deep_sites=tuple(s for s in spec.deep_sites if s in sites))


def jobs(bench, spec: ReportSpec) -> list[tuple]:
    """What ``compute`` evaluates, as (site, layer, evaluation, variants, spec) jobs (for a cluster's units)."""
    layer = spec.layer if spec.layer is not None else middle_layer(bench.n_layers())
    spec = for_sites(spec, bench.sites(layer))
    return [(site, layer, name, tuple(variants), spec.eval if name == "core" else None)
            for site, name, variants in _units(spec, layer)]


def compute(bench, spec: ReportSpec, progress: Progress | None = None) -> ReportData:
    """Every number the report shows, read from the cache or computed (resumable: rerun after a cancel)."""
    # lazy: saeviz.pipeline.runner pulls in torch, which importing saeviz.report.build does without
    from saeviz.pipeline.runner import evaluate, step_progress

    start = time.perf_counter()
    layer = spec.layer if spec.layer is not None else middle_layer(bench.n_layers())
    spec = for_sites(spec, bench.sites(layer))
    units = _units(spec, layer)
    total = sum(len(v) for _, _, v in units)
    frames, done = [], 0
    for site, name, variants in units:
        eval_spec = spec.eval if name == "core" else None
        for variant in variants:
            label = f"{name} {site} L{layer}: {variant.label()}"
            report(progress, done, total, label)
            frames.append(evaluate(bench, spec.compression, variant, site, layer, name, eval_spec,
                                   step_progress(progress, done, total, label)))
            done += 1
    report(progress, total, total, "done")
    rows = pd.concat(frames, ignore_index=True)
    rows["column"] = [variant_label(v, s) for v, s in zip(rows["variant"], rows["sae_sparsity"])]
    labels = {site: site_label(site, bench.sae_hook(site, layer)) for site in spec.sites}
    return ReportData(spec, layer, bench.model_spec.name, rows, time.perf_counter() - start, labels)


def specs_json(data: ReportData) -> str:
    """The specs that produced every number (enough to recompute them with the CLI)."""
    return json.dumps({"model": data.model, "layer": data.layer, "report": asdict(data.spec)}, indent=1, default=str)


def write(data: ReportData, out: Path) -> dict[str, Path]:
    """report.md, report.html (self-contained), rows.csv and specs.json under ``out``."""
    # lazy: saeviz.report.render pulls in plotly, which importing saeviz.report.build does without
    from saeviz.report.render import figure1, render_html, render_markdown

    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "report.md", "html": out / "report.html", "rows": out / "rows.csv", "specs": out / "specs.json"}
    fig = figure1(data.rows, data.layer, data.site_labels)
    paths["markdown"].write_text(render_markdown(data))
    paths["html"].write_text(render_html(data, fig))
    try:  # a picture of Figure 1 for Markdown viewers; needs a local chromium (Kaleido), else only the HTML has it

        paths["figure1"] = export_figure(fig, out / "figure1.png")
    except Exception as exc:  # no chromium: the report itself is complete without the PNG
        print(f"note: figure1.png not written ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
    data.rows.to_csv(paths["rows"], index=False)
    paths["specs"].write_text(specs_json(data))
    return paths
