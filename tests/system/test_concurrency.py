"""Two browser sessions computing new SAE-sparsity points while a CLI sweep writes to the same cache: no lock
error reaches a user, every result is stored, and the CLI finishes with its table."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_browser import ARGS, CHROMIUM, ROOT, WATCH, _free_port

CLI_SWEEP = ["-m", "saeviz", "sweep", "--sites", "resid", "--layers", "2", "--sae-sparsities", "0,0.3,0.6,0.9",
             "--eval-sequences", "16"]


def _serve(cache: Path, log_path: Path):
    port = _free_port()
    env = {**os.environ, "SAEVIZ_CACHE_DIR": str(cache)}
    env.pop("SAEVIZ_DEMO_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats",
                             "false", "--server.fileWatcherType", "none"], cwd=ROOT, env=env,
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"streamlit did not start; see {log_path}")
        time.sleep(0.3)


def _open_sweep(browser, url: str, layer: int):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # its own Streamlit session
    page = context.new_page()
    page.goto(url + "/sweep")
    page.locator('[data-testid="stMetric"]').filter(has_text=f"Layer {layer} ·").first.wait_for(timeout=240_000)
    slider = page.locator('[data-testid="stSlider"]').filter(has_text=f"Layer {layer} SAE sparsity").get_by_role("slider")
    slider.focus()
    return context, page, slider


def _start_move(page, slider, key: str, layer: int) -> None:
    page.evaluate(WATCH, [layer, 300_000])
    slider.press(key)


def _assert_no_error(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator('[data-testid="stException"]').first.inner_text()
    for alert in page.locator('[data-testid="stAlert"]').all():
        text = alert.inner_text().lower()
        assert "lock" not in text and "busy" not in text and "error" not in text, text


@pytest.mark.slow
def test_two_sessions_and_a_cli_sweep_share_one_cache(tmp_path):
    from playwright.sync_api import sync_playwright

    from saeviz.store.db import Store

    cache = tmp_path / "cache"
    server, url = _serve(cache, tmp_path / "streamlit.log")
    cli = None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            a_ctx, a, a_slider = _open_sweep(browser, url, 0)
            b_ctx, b, b_slider = _open_sweep(browser, url, 1)
            env = {**os.environ, "SAEVIZ_CACHE_DIR": str(cache)}
            cli = subprocess.Popen([sys.executable, *CLI_SWEEP], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
            moves = []
            for key_a, key_b in (("Home", "End"), ("ArrowRight", "ArrowLeft"), ("ArrowRight", "ArrowLeft")):
                _start_move(a, a_slider, key_a, 0)  # both sessions compute at once, while the CLI writes
                _start_move(b, b_slider, key_b, 1)
                moves.append((a.evaluate("() => window.__saevizChange")["text"], b.evaluate("() => window.__saevizChange")["text"]))
            out, err = cli.communicate(timeout=900)
            assert cli.returncode == 0, err[-2000:]
            assert "pretrained" in out and "pruned_best" in out
            for page in (a, b):
                _assert_no_error(page)
            a_ctx.close(), b_ctx.close()
            browser.close()
    finally:
        if cli is not None and cli.poll() is None:
            cli.kill()
        server.terminate()
        server.wait(15)
    assert "pruned 2%" in moves[-1][0] and "pruned 97%" in moves[-1][1], moves

    # every result of the three writers is in the cache
    rows = Store(cache).metrics(site="resid", variant="pruned", metric="mse")
    got = {(int(r.layer), round(float(r.sae_sparsity), 2)) for r in rows.itertuples()}
    assert {(0, 0.01), (0, 0.02), (1, 0.98), (1, 0.97)} <= got, sorted(got)
    assert {(2, 0.3), (2, 0.6), (2, 0.9)} <= got, sorted(got)
    before = len(Store(cache).timings())
    rerun = subprocess.run([sys.executable, *CLI_SWEEP], cwd=ROOT, env={**os.environ, "SAEVIZ_CACHE_DIR": str(cache)},
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0 and "pruned_best" in rerun.stdout
    assert len(Store(cache).timings()) == before  # the rerun found the CLI's sweep whole: nothing recomputed
