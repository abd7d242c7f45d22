"""A page's URL parameters stay on that page."""

from ui.navigation import PAGE_PARAMS, drop_foreign_params


def test_tour_parameters_are_dropped_on_other_pages():
    params = {"demo": "1", "step": "3"}
    assert drop_foreign_params("Evaluations", params) == ["demo", "step"] and params == {}


def test_a_page_keeps_its_own_parameters_and_loses_the_others():
    params = {"step": "2", "site": "resid", "latent": "7"}
    assert drop_foreign_params("Feature browser", params) == ["step"]
    assert params == {"site": "resid", "latent": "7"}
    params = {"demo": "1", "step": "2", "latent": "7"}
    drop_foreign_params("Guided tour", params)
    assert params == {"demo": "1", "step": "2"}


def test_every_owned_parameter_set_names_a_page_of_the_app():
    from pathlib import Path

    app = (Path(__file__).resolve().parents[2] / "app.py").read_text()
    assert all(f'title="{title}"' in app for title in PAGE_PARAMS)
