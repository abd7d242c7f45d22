"""Figure builders: the data lands in the traces a reader sees."""

import pandas as pd

from saeviz.report.plots import compress_stats_figure, model_ce_figure, sweep_curves_figure


def _rows():
    rows = []
    for site in ("mlp", "resid"):
        for layer in (0, 1):
            for variant, sparsity, value in (("pretrained", None, 0.9), ("retrained", None, 0.92), ("dense", None, 0.95),
                                             ("pruned", 0.0, 0.9), ("pruned", 0.5, 0.8), ("pruned_best", 0.5, 0.8)):
                rows.append({"site": site, "layer": layer, "variant": variant, "sae_sparsity": sparsity,
                             "metric": "explained_variance", "value": value + layer / 100})
    return pd.DataFrame(rows)


def test_sweep_curves_one_panel_per_site_and_lines_per_layer():
    fig = sweep_curves_figure(_rows(), "explained_variance")
    assert [a.text for a in fig.layout.annotations] == ["MLP out", "residual post"]
    pruned = [t for t in fig.data if t.name and t.name.endswith("pruned")]
    assert len(pruned) == 4 and list(pruned[1].x) == [0, 50] and list(pruned[1].y) == [0.91, 0.81]
    stars = [t for t in fig.data if t.name and t.name.endswith("PrunedBest")]
    assert len(stars) == 4 and all(list(s.x) == [50] for s in stars)


def test_compress_stats_and_ce_figures():
    stats = pd.DataFrame([{"layer": l, "matrix": m, "sparsity": 0.5 if m != "W_in" else 0.25}
                          for l in range(2) for m in ("W_Q", "W_in")])
    fig = compress_stats_figure(stats)
    assert list(fig.data[0].x) == ["W_Q", "W_in"] and fig.data[0].text[0][1] == "25.0%"
    ce = model_ce_figure(pd.DataFrame({"compression": ["dense", "wanda-50%"], "ce_loss": [3.8, 3.95]}))
    assert list(ce.data[0].y) == [3.8, 3.95] and ce.layout.yaxis.range[0] < 3.8


def test_pruned_curve_takes_the_pretrained_sae_as_its_zero_point():
    from saeviz.report.plots import pruned_curve

    unit = pd.DataFrame({"variant": ["pretrained", "pruned", "pruned"], "sae_sparsity": [float("nan"), 0.9, 0.5],
                         "value": [0.9, 0.2, 0.7]})
    curve = pruned_curve(unit)
    assert list(curve["sae_sparsity"]) == [0.0, 0.5, 0.9] and list(curve["value"]) == [0.9, 0.7, 0.2]
    with_zero = pd.concat([unit, pd.DataFrame({"variant": ["pruned"], "sae_sparsity": [0.0], "value": [0.95]})])
    assert list(pruned_curve(with_zero)["value"]) == [0.95, 0.7, 0.2]  # a real 0% row wins


def test_sparsity_panel_marks_the_slider_point_and_the_levels():
    from saeviz.report.plots import sparsity_panel_figure

    rows = _rows()
    fig = sparsity_panel_figure(rows, "explained_variance", "resid", markers={1: 0.5})
    names = [t.name for t in fig.data]
    assert "layer 0" in names and "layer 1" in names
    ring = next(t for t in fig.data if t.name == "layer 1 slider")
    assert list(ring.x) == [50] and list(ring.y) == [0.81]  # layer 1, pruned 50%: 0.8 + 1/100
    level = next(t for t in fig.data if t.name == "layer 1 retrained")
    assert list(level.y) == [0.93, 0.93]
    assert not any(t.name == "layer 0 slider" for t in fig.data)  # no marker asked for layer 0


def test_layerwise_figure_overlays_compressions_by_dash():
    from saeviz.report.plots import layerwise_figure

    rows = pd.DataFrame([{"compression": c, "site": "resid", "layer": l, "variant": "pretrained", "sae_sparsity": None,
                          "metric": "explained_variance", "value": v + l / 10}
                         for c, v in (("wanda-50%", 0.5), ("rtn-int4-g128-sym", 0.6)) for l in range(3)])
    fig = layerwise_figure(rows, "explained_variance")
    assert [t.name for t in fig.data] == ["pretrained · wanda-50%", "pretrained · rtn-int4-g128-sym"]
    assert fig.data[0].line.dash != fig.data[1].line.dash
    assert list(fig.data[1].x) == [0, 1, 2] and list(fig.data[1].y) == [0.6, 0.7, 0.8]
    dense = rows.assign(compression="dense", variant="dense", value=0.95)
    fig = layerwise_figure(pd.concat([rows, dense.iloc[:3]]), "explained_variance")
    assert [t.name for t in fig.data][0] == "dense" and len(fig.data) == 3  # the reference once, not per compression


def test_grouped_bars_outline_the_best_bar_of_each_group():
    from saeviz.report.plots import grouped_bars_figure

    table = pd.DataFrame({"item": ["city.country", "person.field"], "pretrained": [0.5, 0.8], "retrained": [0.6, 0.7]})
    fig = grouped_bars_figure(table, "item", ["pretrained", "retrained"], "RAVEL",
                              best={"city.country": "retrained", "person.field": "pretrained"})
    assert [t.name for t in fig.data] == ["pretrained", "retrained"]
    assert list(fig.data[0].marker.line.width) == [0, 2.5] and list(fig.data[1].marker.line.width) == [2.5, 0]
    assert fig.layout.barmode == "group"
