"""Figure, table and comparison-pack export: real files, read back and checked."""

import io
import json
import re
import zipfile

import pandas as pd
import plotly.graph_objects as go
import pytest

from saeviz.report.export import PackItem, comparison_pack, export_figure, export_table, figure_bytes, slug, table_bytes


@pytest.fixture(scope="module")
def fig():
    f = go.Figure(go.Scatter(x=[0, 50, 90], y=[0.9, 0.8, 0.2], name="layer 0"))
    f.update_layout(title="explained variance vs SAE sparsity", height=300)
    return f


def test_png_svg_pdf_are_valid_images_of_the_figure(fig, tmp_path):
    from PIL import Image

    png = figure_bytes(fig, "png", width=600, height=300, scale=1)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (600, 300)
    assert image.convert("L").getextrema()[0] < 200  # something is drawn, not a blank page
    svg = figure_bytes(fig, "svg", width=600, height=300)
    assert svg.lstrip().startswith(b"<svg") and b"explained variance vs SAE sparsity" in svg
    assert figure_bytes(fig, "pdf").startswith(b"%PDF")
    path = export_figure(fig, tmp_path / "out" / "fig.svg", width=600, height=300)
    assert path.read_bytes().lstrip().startswith(b"<svg")


def test_html_is_self_contained(fig):
    html = figure_bytes(fig, "html").decode()
    assert "<html>" in html and "explained variance vs SAE sparsity" in html
    # plotly.js itself is inlined (its banner and its API), and the page loads nothing: no script or
    # stylesheet from a URL, no @import, so it opens offline
    assert re.search(r"plotly\.js v\d+\.\d+\.\d+", html) and "Plotly.newPlot" in html
    assert not re.findall(r"<(?:script|link|img|iframe)[^>]*(?:src|href)\s*=", html, flags=re.I)
    assert "@import" not in html


def test_tables_round_trip_and_bad_suffix_is_refused(tmp_path):
    df = pd.DataFrame({"metric": ["mse", "l0"], "value": [0.25, 48.0]})
    assert pd.read_csv(io.BytesIO(table_bytes(df, "csv"))).equals(df)
    assert pd.read_parquet(io.BytesIO(table_bytes(df, "parquet"))).equals(df)
    assert pd.read_parquet(export_table(df, tmp_path / "t.parquet")).equals(df)
    with pytest.raises(ValueError, match="csv or .parquet"):
        export_table(df, tmp_path / "t.xlsx")
    with pytest.raises(ValueError, match="Figure format"):
        figure_bytes(go.Figure(), "gif")


def test_comparison_pack_holds_figures_data_specs_and_a_readme(fig):
    data = pd.DataFrame({"sae_sparsity": [0, 0.5, 0.9], "value": [0.9, 0.8, 0.2]})
    items = [PackItem("EV vs SAE sparsity (resid)", fig, data, {"compression": "wanda-50%", "site": "resid"},
                      ["python -m saeviz sweep --method wanda --sparsity 0.5 --sites resid"]),
             PackItem("EV vs SAE sparsity (resid)", fig, None, {}, [])]
    zf = zipfile.ZipFile(io.BytesIO(comparison_pack(items, figure_formats=("svg", "html"))))
    names = set(zf.namelist())
    base = slug(items[0].title)
    assert base == "ev-vs-sae-sparsity-resid"
    assert {f"figures/{base}.svg", f"figures/{base}.html", f"data/{base}.csv", f"data/{base}.parquet",
            f"specs/{base}.json", f"figures/{base}-2.svg", "README.md", "specs.json"} <= names
    assert f"data/{base}-2.csv" not in names  # the second item has no data
    readme = zf.read("README.md").decode()
    assert "python -m saeviz sweep --method wanda --sparsity 0.5 --sites resid" in readme
    assert json.loads(zf.read(f"specs/{base}.json"))["specs"]["compression"] == "wanda-50%"
    assert pd.read_parquet(io.BytesIO(zf.read(f"data/{base}.parquet"))).equals(data)
    with pytest.raises(ValueError, match="empty"):
        comparison_pack([])
    with pytest.raises(ValueError, match="title"):
        PackItem(" ", fig)
