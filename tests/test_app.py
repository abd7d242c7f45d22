"""The dashboard's pages through Streamlit's AppTest, on the real embedded default."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

TIMEOUT = 240
APP = Path(__file__).resolve().parents[1] / "app.py"


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("SAEVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def test_home_shows_the_embedded_model_and_its_saes(app):
    app.run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Model"] and int(metrics["Layers"]) >= 2 and metrics["Device"] in ("CPU", "GPU")
    saes = app.dataframe[0].value
    assert set(saes["site"]) == {"attn", "mlp", "resid"} and (saes["fits"] == "yes").all()
    assert len(saes) == 3 * int(metrics["Layers"])


def test_home_reports_a_bad_model_in_one_line(app):
    app.run()
    app.sidebar.text_input(key="model_name").set_value("./no-such-checkpoint").run()
    assert not app.exception
    assert "does not exist" in app.error[0].value


def test_sweep_page_runs_and_plots(app):
    app.switch_page("views/sweep.py").run()
    assert not app.exception
    app.multiselect[0].set_value(["resid"])
    app.multiselect[1].set_value([0.0, 0.5])
    app.button[0].click().run()
    assert not app.exception, app.exception
    assert not app.error
    best = app.dataframe[0].value
    assert set(best["site"]) == {"resid"} and (best["SAE sparsity"] == 0.5).all()
