"""Measurements that run inside Django (called by bench/run.py in a subprocess per database)."""

import json
import resource
import tempfile
import time
from pathlib import Path

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from patients.models import Patient


def pages(patient: Patient) -> dict[str, tuple[str, str]]:
    tn = patient.trial_number
    return {
        "patient list": ("nurse.gb01", "/patients/"),
        "patient page": ("nurse.gb01", f"/patients/{tn}/"),
        "visit page": ("nurse.gb01", f"/crf/patients/{tn}/RAND/"),
        "CRF form (GET)": ("nurse.gb01", f"/crf/patients/{tn}/RAND/demographics/"),
        "nurse home": ("nurse.gb01", "/"),
        "query list": ("dm", "/crf/queries/"),
        "recruitment dashboard": ("tm", "/reports/recruitment/"),
        "data-quality dashboard": ("tm", "/reports/data-quality/"),
        "bare view (ceiling)": ("nurse.gb01", "/bench/bare/"),
    }


def first_patient() -> Patient:
    return Patient.objects.filter(site__code="GB01", allocation__isnull=False).order_by("trial_number").first()


def query_counts() -> None:
    counts = {}
    for name, (username, url) in pages(first_patient()).items():
        client = Client()
        client.force_login(User.objects.get(username=username))
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        counts[name] = {"queries": len(ctx.captured_queries), "status": response.status_code}
    print(json.dumps(counts))


def urls() -> None:
    print(json.dumps({name: [u, url] for name, (u, url) in pages(first_patient()).items()}))


def export_time() -> None:
    from reports.dataset import export_dataset

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        manifest = export_dataset(formats=["csv", "odm"], out=Path(folder), allow_unlocked=True)
        seconds = time.perf_counter() - start
        size = sum(f["bytes"] for f in manifest["files"])
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = sum(manifest["tables"].values())
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024, "rows": rows, "bytes": size}))


def copy_time() -> None:
    """The floor: PostgreSQL COPY of the same tables to memory, in this process."""
    from crf.registry import FORMS
    from safety.models import AdverseEvent

    tables = [m._meta.db_table for m in FORMS.values()] + [Patient._meta.db_table, AdverseEvent._meta.db_table]
    start = time.perf_counter()
    total = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for table in tables:
            buffer = __import__("io").StringIO()
            raw.copy_expert(f'COPY "{table}" TO STDOUT WITH CSV HEADER', buffer)
            total += len(buffer.getvalue())
    print(json.dumps({"seconds": time.perf_counter() - start, "bytes": total}))


def pdf_time() -> None:
    from reports.models import GeneratedFile
    from reports.services import render_now

    results = {}
    for label, kind, subject in (
        ("casebook", GeneratedFile.Kind.CASEBOOK, first_patient().trial_number),
        ("blank CRF book", GeneratedFile.Kind.BLANK_CRF_BOOK, ""),
    ):
        start = time.perf_counter()
        built = render_now(kind=kind, subject=subject)
        seconds = time.perf_counter() - start
        results[label] = {"seconds": seconds, "pages": built.pdf.pages, "per_page": seconds / max(built.pdf.pages, 1)}
    print(json.dumps(results))


def sweep_time() -> None:
    from crf.models import Visit
    from crf.reminders import visit_reminders_sweep

    with CaptureQueriesContext(connection) as ctx:
        start = time.perf_counter()
        recorded = visit_reminders_sweep()
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "visits": Visit.objects.count(), "recorded": recorded, "queries": len(ctx)}))
