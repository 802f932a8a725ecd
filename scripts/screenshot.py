"""Screenshot EDC pages in headless Chromium, logged in as a given user.

    python scripts/screenshot.py --base http://127.0.0.1:8001 --user nurse.gb01 \
        --password nelmas-demo-2026 --out /tmp/shots --size 1366x768 /sites/ /sites/GB01/

Pages are saved as <out>/<slug>-<WxH>.png. Used by developers to look at every page they build;
the browser journeys of the test suite take their own screenshots.
"""

import argparse
import re
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--user")
    parser.add_argument("--password", default="nelmas-demo-2026")
    parser.add_argument("--out", default="test-artifacts/shots")
    parser.add_argument("--size", action="append", default=[], help="WxH, repeatable (default 1366x768)")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [tuple(int(v) for v in s.split("x")) for s in (args.size or ["1366x768"])]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for width, height in sizes:
            page = browser.new_page(viewport={"width": width, "height": height}, locale="en-GB")
            if args.user:
                page.goto(f"{args.base}/accounts/login/")
                page.fill("#id_username", args.user)
                page.fill("#id_password", args.password)
                page.click("button[type=submit]")
            for path in args.paths:
                page.goto(f"{args.base}{path}")
                slug = re.sub(r"[^a-zA-Z0-9]+", "-", path).strip("-") or "home"
                target = out / f"{slug}-{width}x{height}.png"
                page.screenshot(path=str(target), full_page=True)
                print(target)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
