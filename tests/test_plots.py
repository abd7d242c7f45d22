"""Figure builders: the data lands in the traces a reader sees."""

import pandas as pd

from saeviz.plots import compress_stats_figure, model_ce_figure, sweep_curves_figure


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
