"""The real app in headless chromium: `streamlit run app.py` on a free localhost port with a fresh cache,
driven by Playwright through the machine's chromium (no browser download; `make setup` installs Debian's).

It opens the home page (timed), moves a per-layer SAE-sparsity slider on the sweep page and checks the
metric changed (timed from key press to the new value, for a cached point and for one computed on
demand), downloads the chart as PNG and checks it is that chart's image, and opens a latent in the
feature browser. SAEVIZ_SCREENSHOTS=<folder> also saves a screenshot of every page there (`make
screenshots` writes docs/), and the timings go to <folder>/timings.json.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SAEVIZ_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("SAEVIZ_SCREENSHOTS")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
# screenshot name -> (sidebar link, text that shows the page is drawn); visited in this order, in one session
PAGES = {"compression": ("Model & compression", "Achieved sparsity per layer"), "layers": ("Layer-wise curves", "per layer"),
         "evaluations": ("Evaluations", "the best variant"), "tour": ("Guided tour", "On our model"),
         "pack": ("Export pack", "CLI command")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import urllib.request

    port, cache = _free_port(), tmp_path_factory.mktemp("cache")
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w")
    env = {**os.environ, "SAEVIZ_CACHE_DIR": str(cache), "SAEVIZ_PROFILE": "1"}
    env.pop("SAEVIZ_DEMO_DIR", None)  # the shipped demo data, as a user gets it
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
                             "--server.fileWatcherType", "none"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start (exit {proc.poll()}); see {log.name}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}", Path(log.name)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"no chromium at {CHROMIUM}: run `make setup` (installs Debian's chromium)"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _shot(page, name: str, height: int = 1700) -> None:
    """The page at a tall viewport (Streamlit scrolls inside its main container, so full_page alone crops)."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        size = page.viewport_size
        page.set_viewport_size({"width": size["width"], "height": height})
        page.wait_for_timeout(2000)  # plotly redraws at the new size
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)
        page.set_viewport_size(size)


def _local(url: str) -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname in ("127.0.0.1", "localhost")


CUT_OFF = """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stPageLink"] *')]
  .filter(e => e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0).map(e => e.innerText)"""


def _card(page, layer: int):
    return page.locator('[data-testid="stMetric"]').filter(has_text=f"Layer {layer} ·").first


WATCH = """([layer, timeoutMs]) => {
  // time from the key press to the moment this layer's card shows another text, measured in the page
  const card = () => [...document.querySelectorAll('[data-testid="stMetric"]')].find(e => e.innerText.includes(`Layer ${layer} ·`));
  const before = card() ? card().innerText : '';
  window.__saevizT0 = null;
  document.addEventListener('keydown', () => { window.__saevizT0 = performance.now(); }, {once: true, capture: true});
  window.__saevizChange = new Promise((resolve, reject) => {
    const obs = new MutationObserver(() => {
      const el = card();
      if (window.__saevizT0 !== null && el && el.innerText !== before && el.innerText.includes('pruned')) {
        obs.disconnect(); resolve({ms: performance.now() - window.__saevizT0, text: el.innerText});
      }
    });
    obs.observe(document.body, {subtree: true, childList: true, characterData: true});
    setTimeout(() => { obs.disconnect(); reject(new Error(`layer ${layer}: no change in ${timeoutMs} ms`)); }, timeoutMs);
  });
}"""


def _press(page, slider, key: str, layer: int, timeout_s: float) -> tuple[str, float]:
    """Press a key on a slider; (the card's new text, seconds from key press to it, timed in the page)."""
    page.evaluate(WATCH, [layer, int(timeout_s * 1000)])
    slider.press(key)
    got = page.evaluate("() => window.__saevizChange")
    return got["text"], round(got["ms"] / 1000, 3)


def _changed(page, layer: int, old: str, timeout_s: float) -> tuple[str, float]:
    """Wait until layer's card shows another label or value; (new text, seconds since the call)."""
    start = time.monotonic()
    deadline = start + timeout_s
    while time.monotonic() < deadline:
        try:
            text = _card(page, layer).inner_text(timeout=200)
        except Exception:  # the fragment is redrawing
            text = old
        if text != old and "pruned" in text:
            return text, time.monotonic() - start
        page.wait_for_timeout(20)
    raise AssertionError(f"layer {layer}'s card still shows {old!r} after {timeout_s} s")


@pytest.mark.slow
def test_dashboard_in_a_real_browser(server, browser, tmp_path):
    from PIL import Image

    server, log = server
    timings = {}
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    outside = []  # the app works offline: nothing may be fetched from beyond this machine (fonts, icons, CDNs)
    page.on("request", lambda request: None if _local(request.url) else outside.append(request.url))
    start = time.monotonic()
    page.goto(server + "/")
    page.get_by_text("Parameters").first.wait_for(timeout=60_000)
    timings["first_page_s"] = round(time.monotonic() - start, 2)
    page.get_by_text("SAEs loaded per layer").first.wait_for(timeout=120_000)
    for width in (1000, 1400):  # every quick link's label shows whole, in a narrow window too
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(500)
        assert page.evaluate(CUT_OFF) == [], width
    assert page.get_by_text("Deploy", exact=True).count() == 0  # toolbarMode = minimal: nothing users cannot use
    _shot(page, "overview")

    page.goto(server + "/sweep")
    _card(page, 0).wait_for(timeout=180_000)
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
    before = _card(page, 0).inner_text()
    assert "pruned" in before
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Layer 0 SAE sparsity").get_by_role("slider")
    slider.focus()
    cached, timings["slider_cached_s"] = _press(page, slider, "Home", 0, 30)  # 0%: the pretrained SAE, a swept point
    value = lambda text: [line for line in text.splitlines() if line.strip()][1]  # label, value, delta
    assert "pruned 0%" in cached and value(cached) != value(before), (before, cached)
    # 1%: between the swept points, computed now (the model loads first)
    computed, timings["slider_new_point_s"] = _press(page, slider, "ArrowRight", 0, 240)
    assert "pruned 1%" in computed
    second, timings["slider_second_new_point_s"] = _press(page, slider, "ArrowRight", 0, 120)  # 2%, model loaded
    assert "pruned 2%" in second
    back, timings["slider_back_s"] = _press(page, slider, "ArrowLeft", 0, 30)  # 1% again: cached since the first move
    assert "pruned 1%" in back and value(back) == value(computed)
    again, timings["slider_cached_2_s"] = _press(page, slider, "ArrowLeft", 0, 30)  # 0%
    assert "pruned 0%" in again
    cached_moves = []
    for key in ("ArrowRight", "ArrowRight", "ArrowLeft", "ArrowLeft", "ArrowRight", "ArrowRight", "ArrowLeft", "ArrowLeft"):
        again, seconds = _press(page, slider, key, 0, 30)  # 0-2%, all cached by now
        cached_moves.append(seconds)
    timings["slider_cached_moves_s"] = sorted(cached_moves)
    # the server's share of each move (SAEVIZ_PROFILE): the sweep fragment's own run time
    timings["fragment_ms"] = [int(line.split()[-2]) for line in log.read_text().splitlines() if "sweep fragment" in line]

    page.locator('[data-testid="stPopover"] button').first.click()  # the chart's Export menu
    with page.expect_download(timeout=90_000) as download:
        page.locator('[data-testid="stDownloadButton"] button').filter(has_text="PNG").first.click()
    path = tmp_path / "chart.png"
    download.value.save_as(path)
    image = Image.open(path)
    assert image.format == "PNG" and image.size == (2400, 860)  # the sparsity chart: 1200 x 430 at scale 2
    assert image.convert("L").getextrema()[0] < 100  # drawn, not blank

    page.keyboard.press("Escape")  # close the Export menu before the picture
    page.locator('[data-testid="stPopoverBody"]').wait_for(state="hidden", timeout=10_000)
    slider.focus()
    _press(page, slider, "ArrowRight", 0, 30)  # 1% (cached): the latent opens on the pruned1 SAE
    _shot(page, "sweep")
    page.get_by_role("button", name="Open a latent").first.click()
    page.wait_for_url("**/features?**", timeout=60_000)
    assert "site=resid" in page.url and "layer=0" in page.url and "variant=pruned1" in page.url
    compute = page.get_by_role("button", name="Compute statistics")
    latent = page.get_by_text("Latent 0:").first
    page.wait_for_function("() => document.body.innerText.includes('Compute statistics') || "
                           "document.body.innerText.includes('Latent 0:')", timeout=120_000)
    if compute.count():
        compute.click()
    latent.wait_for(timeout=240_000)
    _shot(page, "features")

    for name, (link, marker) in PAGES.items():
        page.locator('[data-testid="stSidebarNav"] a').filter(has_text=link).first.click()  # same session: the pack survives
        page.get_by_text(marker).first.wait_for(timeout=180_000)
        if name in ("layers", "tour"):
            page.get_by_text("Add to pack").first.click()
            page.wait_for_timeout(500)
        if name == "pack":
            page.get_by_role("button", name="Build the zip").click()
            page.get_by_text("comparison-pack.zip").first.wait_for(timeout=120_000)
        _shot(page, name)
        if name == "tour":
            assert "step=" in page.url
        else:  # the tour's and the feature browser's parameters stay on their pages
            assert "step=" not in page.url and "demo=" not in page.url and "latent=" not in page.url, page.url
    assert not outside, f"requests left localhost: {sorted(set(outside))}"
    if SHOTS:
        (Path(SHOTS) / "timings.json").write_text(json.dumps(timings, indent=1))
    print("browser timings:", timings)
