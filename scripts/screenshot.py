"""Screenshot dashboard pages in headless Debian chromium through Playwright (no browser download).

    .venv/bin/python scripts/screenshot.py http://localhost:8501/ home.png [--wait-text "SAEs"] [--click "Run or resume the sweep"]
"""

import argparse

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("out")
    p.add_argument("--wait-text", default=None, help="Wait until this text is on the page.")
    p.add_argument("--click", default=None, help="Click the button with this label first, then wait for --wait-text.")
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=1100)
    p.add_argument("--timeout", type=float, default=180)
    args = p.parse_args()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(args.url)
        page.wait_for_selector("[data-testid=stApp]", timeout=args.timeout * 1000)
        if args.click:
            page.get_by_role("button", name=args.click).click(timeout=args.timeout * 1000)
        if args.wait_text:
            page.get_by_text(args.wait_text).first.wait_for(timeout=args.timeout * 1000)
        page.wait_for_timeout(2000)  # charts and tables mount after the text
        if page.locator(".stPlotlyChart").count():
            page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=args.timeout * 1000)
        page.wait_for_timeout(4000)  # let plotly and the data grids finish drawing
        page.screenshot(path=args.out, full_page=True)
        browser.close()
    print(args.out)


if __name__ == "__main__":
    main()
