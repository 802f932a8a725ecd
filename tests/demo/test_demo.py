"""`make demo` path: the embedded default migrates, seeds (idempotently) and serves a login page."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _local_env(tmp_path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "NELMAS_TESTING", "DJANGO_SETTINGS_MODULE")
    }
    env.update(SQLITE_PATH=str(tmp_path / "demo.sqlite3"), DJANGO_SETTINGS_MODULE="nelmas.settings")
    return env


def _manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_demo_migrates_seeds_idempotently_and_serves_the_login_page(tmp_path):
    env = _local_env(tmp_path)
    assert _manage(env, "migrate", "--noinput", "-v0").returncode == 0
    first = _manage(env, "seed_demo")
    assert first.returncode == 0, first.stderr
    assert "tm " in first.stdout and "nelmas-demo-2026" in first.stdout  # prints the demo logins
    second = _manage(env, "seed_demo")
    assert second.returncode == 0, second.stderr

    counts = _manage(
        env,
        "shell",
        "--no-imports",
        "-c",
        "from accounts.models import User; from sites.models import Site, Delegation; "
        "print(User.objects.count(), Site.objects.count(), Delegation.objects.count())",
    )
    users, sites, delegations = map(int, counts.stdout.split())
    # 11 users: the 10 of before and the medical coder of issue 24; unchanged by the second run.
    assert (users, sites) == (11, 3) and delegations == 5

    # The demo shows CRFs in every lifecycle state, queries and an SAE.
    states = _manage(
        env,
        "shell",
        "--no-imports",
        "-c",
        "from crf.registry import FORMS; from crf.models import Query; from safety.models import SaeReport; "
        "s = set(); [s.update(m.objects.values_list('status', flat=True)) for m in FORMS.values()]; "
        "print(' '.join(sorted(s)), Query.objects.count(), SaeReport.objects.count())",
    )
    *form_states, queries, saes = states.stdout.split()
    assert set(form_states) == {"in_progress", "complete", "verified", "locked"}, states.stderr
    assert int(queries) >= 3 and int(saes) >= 1

    # The casebook PDF of a demo patient: the trial number on every page, every completed form.
    pdf_path = tmp_path / "casebook.pdf"
    rendered = _manage(env, "render_pdf", "casebook", "--patient", "NEL-GB01-001", "--out", str(pdf_path))
    assert rendered.returncode == 0, rendered.stderr
    from pypdf import PdfReader

    pages = [page.extract_text() for page in PdfReader(pdf_path).pages]
    assert len(pages) > 3 and all("NEL-GB01-001" in text for text in pages)
    text = " ".join(" ".join(pages).split())
    for title in ("Demographics", "Medical and NET history", "Liver resection", "Primary tumour histopathology"):
        assert title in text
    assert "Appendix: audit trail" in text
    assert "Dr Priya Iyer — “I confirm this patient's eligibility assessment”" in text  # signature manifestation

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2) as response:
                    assert response.status == 200
                    body = response.read().decode()
            except OSError:
                time.sleep(0.2)  # polling for the server to bind, bounded by the deadline
        if body is None:
            pytest.fail("runserver did not answer within 60 s")
        assert "Log in to NELMAS EDC" in body and 'name="password"' in body
    finally:
        server.terminate()
        server.wait(timeout=10)


pytestmark = pytest.mark.requirement("URS-OPS-003", "URS-PDF-001")
