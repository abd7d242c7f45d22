"""Progress callbacks: cancelling, and the CLI's bar."""

import pytest

from saeviz.jobs import Cancelled, report, tqdm_progress


def test_a_false_answer_cancels():
    report(lambda d, t, m="": None, 1, 2)
    with pytest.raises(Cancelled, match="stop here"):
        report(lambda d, t, m="": False, 1, 2, "stop here")


def test_cli_bar_shows_eta_but_no_rate(capsys):
    # a step is a layer or a unit of a sweep, not an iteration: "1315860 it/s" meant nothing
    bar = tqdm_progress("sweep")
    for done in range(4):
        assert bar(done, 3, f"unit {done}") is True
    err = capsys.readouterr().err
    assert "3/3" in err and "unit 3" in err and "<" in err
    assert "it/s" not in err and "s/it" not in err
