"""Write the validation report: the traceability matrix from docs/requirements.yaml, the
requirement markers of the collected tests and the JUnit results of the run (make validation-report)."""

import datetime as dt
import json
import platform
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import django
import psycopg2
import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.template.loader import render_to_string

from reports.documents import render_pdf


def _results(junit: Path) -> dict[str, str]:
    """nodeid → passed / failed / skipped, from pytest's JUnit XML."""
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314 - our own file
        classname, name = case.get("classname", ""), case.get("name", "")
        path = classname.replace(".", "/")
        parts = path.split("/")
        # classname is module path (and class); rebuild "tests/x/test_y.py::name"
        for cut in range(len(parts), 0, -1):
            candidate = "/".join(parts[:cut]) + ".py"
            if (settings.BASE_DIR / candidate).exists():
                rest = parts[cut:]
                nodeid = "::".join([candidate, *rest, name])
                break
        else:
            nodeid = f"{classname}::{name}"
        if case.find("failure") is not None or case.find("error") is not None:
            outcomes[nodeid] = "failed"
        elif case.find("skipped") is not None:
            outcomes[nodeid] = "skipped"
        else:
            outcomes[nodeid] = "passed"
    return outcomes


def _database_version() -> str:
    """The server the suite ran against (its test database is gone by now: ask the server)."""
    if connection.vendor != "postgresql":
        return f"{connection.vendor} {'.'.join(str(p) for p in connection.Database.sqlite_version_info)}"

    params = connection.get_connection_params()
    params["dbname"] = "postgres"
    try:
        with psycopg2.connect(**params) as conn, conn.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return "PostgreSQL " + cursor.fetchone()[0]
    except psycopg2.Error:
        return "PostgreSQL (version unavailable)"


class Command(BaseCommand):
    help = "Write the traceability matrix (HTML and PDF) from the requirements, markers and test results."

    def add_arguments(self, parser):
        parser.add_argument("--junit", required=True)
        parser.add_argument("--map", required=True, help="JSON written by the test run (VALIDATION_MAP)")
        parser.add_argument("--out", required=True)

    def handle(self, *args, junit, map, out, **options):
        junit_path, map_path, out_dir = Path(junit), Path(map), Path(out)
        if not junit_path.exists() or not map_path.exists():
            raise CommandError("Run the suite first (make validation-report does): JUnit or marker map missing.")
        requirements = yaml.safe_load((settings.BASE_DIR / "docs" / "requirements.yaml").read_text())
        mapping = json.loads(map_path.read_text())
        outcomes = _results(junit_path)
        rows, untested = [], {"high": [], "medium": [], "low": []}
        for requirement in requirements:
            tests = sorted(nodeid for nodeid, ids in mapping.items() if requirement["id"] in ids)
            results = [outcomes.get(t, "not run") for t in tests]
            status = (
                "no test"
                if not tests
                else "fail"
                if "failed" in results
                else "pass"
                if "passed" in results and all(r in ("passed", "skipped") for r in results)
                else "not run"
            )
            if not tests:
                untested[requirement["risk"]].append(requirement)
            modules: dict[str, dict[str, int]] = {}
            for test, result in zip(tests, results, strict=True):
                counts = modules.setdefault(test.split("::")[0].removeprefix("tests/"), {})
                counts[result] = counts.get(result, 0) + 1
            rows.append(
                {
                    **requirement,
                    "tests": list(zip(tests, results, strict=True)),
                    "modules": sorted(modules.items()),
                    "passed": results.count("passed"),
                    "failed": results.count("failed"),
                    "status": status,
                }
            )
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH, as the developer runs it
                cwd=settings.BASE_DIR,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            commit = "unknown"
        database = _database_version()
        context = {
            "rows": rows,
            "untested": untested,
            "commit": commit,
            "date": dt.datetime.now(dt.UTC),
            "python": platform.python_version(),
            "django": django.get_version(),
            "database": database,
            "totals": {
                "requirements": len(rows),
                "high": sum(1 for r in rows if r["risk"] == "high"),
                "pass": sum(1 for r in rows if r["status"] == "pass"),
                "fail": sum(1 for r in rows if r["status"] == "fail"),
                "untested": sum(1 for r in rows if r["status"] == "no test"),
                "tests": len(outcomes),
                "tests_failed": sum(1 for v in outcomes.values() if v == "failed"),
            },
        }
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "validation-report.html").write_text(render_to_string("pdf/validation_report.html", context))
        pdf = render_pdf("pdf/validation_report.html", context)
        (out_dir / "validation-report.pdf").write_bytes(pdf.content)
        self.stdout.write(
            f"{context['totals']['pass']}/{len(rows)} requirements pass, {context['totals']['fail']} fail, "
            f"{context['totals']['untested']} without tests; {pdf.pages} pages → {out_dir}"
        )
        if context["totals"]["fail"] or untested["high"]:
            raise CommandError("A requirement failed or a high-risk requirement has no test: see the report.")
