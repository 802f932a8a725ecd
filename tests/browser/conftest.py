"""Browser journeys: Playwright driving Debian's Chromium against a live server on PostgreSQL.

Each journey saves screenshots of its key pages under $TEST_ARTIFACTS/journeys (kept by CI), and
checks every page it visits with axe-core (vendored from the npm registry) for serious or critical
WCAG 2.2 AA violations.
"""

import json
import os
import re
from pathlib import Path

import pytest

# live_server runs in a thread of this process; sync Playwright drives it from the test thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

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
AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS}


@pytest.fixture
def shots(request, artifacts_dir):
    """shots(page, "name") saves a full-page screenshot under journeys/<test name>/."""
    folder = Path(artifacts_dir) / "journeys" / re.sub(r"[^\w-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    counter = {"n": 0}

    def take(page, name: str) -> Path:
        counter["n"] += 1
        path = folder / f"{counter['n']:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def axe_violations(page) -> list[dict]:
    """Serious and critical axe-core violations of WCAG 2.x A/AA on the current page."""
    page.add_script_tag(content=AXE_SOURCE)
    result = page.evaluate("async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def assert_accessible():
    def check(page) -> None:
        violations = axe_violations(page)
        assert not violations, f"{page.url}: " + json.dumps(violations, indent=1)

    return check


@pytest.fixture
def login(live_server, password):
    def do(page, user) -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")

    return do


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """A UK nurse's browser: dates typed and shown DD/MM/YYYY, London time.

    The CSP is bypassed only so that axe-core can be injected; tests/test_security.py checks the
    policy and that no page has inline script.
    """
    return {**browser_context_args, "locale": "en-GB", "timezone_id": "Europe/London", "bypass_csp": True}
