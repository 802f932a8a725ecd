"""Measurements that run inside Django (called by bench/run.py in a subprocess per database)."""

import io
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
        "record status grid": ("dm", "/reports/record-status/"),
        "recruitment dashboard": ("tm", "/reports/recruitment/"),
        "data-quality dashboard": ("tm", "/reports/data-quality/"),
        "bare view (ceiling)": ("nurse.gb01", "/bench/bare/"),
    }


def first_patient() -> Patient:
    return Patient.objects.filter(site__code="GB01", allocation__isnull=False).order_by("trial_number").first()


def grid_first_patient() -> None:
    """The id of the first patient on the data manager's first page of the record status grid."""
    from reports.worklists import grid_patients

    print(json.dumps(grid_patients(user=User.objects.get(username="dm")).values_list("pk", flat=True)[0]))


def query_counts() -> None:
    """Queries per page as first computed (the dashboard cache emptied first: the cold count)."""
    from django.core.cache import cache

    cache.clear()  # the benchmark's own Redis database
    counts = {}
    for name, (username, url) in pages(first_patient()).items():
        client = Client()
        client.force_login(User.objects.get(username=username))
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        counts[name] = {
            "queries": len(ctx.captured_queries),
            "status": response.status_code,
            "kb": len(response.content) / 1024,
        }
    print(json.dumps(counts))


def urls() -> None:
    print(json.dumps({name: [u, url] for name, (u, url) in pages(first_patient()).items()}))


def plan() -> None:
    """What the locust users open: the pages, and one GB01 patient per nurse user to save a CRF on."""
    patient = first_patient()
    from crf.models import Demographics

    nurse_patients = list(
        Patient.objects.filter(site__code="GB01", pk__in=Demographics.objects.values("patient_id"))
        .exclude(pk=patient.pk)
        .order_by("trial_number")
        .values_list("trial_number", flat=True)[:40]
    )
    print(
        json.dumps(
            {"pages": {name: url for name, (_u, url) in pages(patient).items()}, "nurse_patients": nurse_patients}
        )
    )


def prepare_randomisations() -> None:
    """200 registered, eligible patients across the active sites, each ready to be randomised by
    its site's nurse (built through the services, as a nurse and a PI would)."""
    import datetime as dt
    import os

    from django.utils import timezone

    from demo.simulation import eligibility_answers, register_eligible
    from patients.models import ConsentDocument
    from sites.models import Site

    n = int(os.environ.get("BENCH_RANDOMISATIONS", "200"))
    today = timezone.localdate()
    document = ConsentDocument.objects.order_by("-valid_from").first()
    sites = list(Site.objects.filter(status=Site.Status.ACTIVE).order_by("code"))
    ready = []
    for number in range(n):
        site = sites[number % len(sites)]
        nurse = User.objects.get(username=f"nurse.{site.code.lower()}")
        resection = today - dt.timedelta(days=45)
        grade = ("G1", "G2")[number % 2]
        patient = register_eligible(
            site=site,
            nurse=nurse,
            resection=resection,
            born=today.year - 60,
            sex="F",
            initials="BZ",
            document=document,
            consented_at=timezone.now() - dt.timedelta(days=6),
            future_research=True,
            answers=eligibility_answers(
                resection,
                ("pancreas", "jejunum_ileum")[number % 2],
                "2.0" if grade == "G1" else "8.0",
                grade,
                ("R0", "R1")[number % 2],
            ),
            today=today,
        )
        ready.append([nurse.username, patient.trial_number])
    print(json.dumps(ready))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


EXPORT_FORMATS = ("csv", "odm", "xpt", "sav", "dta")


def export_format_time() -> None:
    """One format (BENCH_FORMAT) alone in this process, rolled back: its time, bytes and the memory
    it adds to the process's high-water mark (one process per format, so each is its own)."""
    import os

    from django.db import transaction

    from reports.dataset import export_dataset

    fmt = os.environ["BENCH_FORMAT"]
    baseline = _peak_mb()
    with tempfile.TemporaryDirectory() as folder, transaction.atomic():
        start = time.perf_counter()
        manifest = export_dataset(formats=[fmt], out=Path(folder), allow_unlocked=True)
        took = time.perf_counter() - start
        transaction.set_rollback(True)
    print(
        json.dumps(
            {
                "format": fmt,
                "seconds": took,
                "bytes": sum(f["bytes"] for f in manifest["files"]),
                "rows": sum(manifest["tables"].values()),
                "baseline_mb": baseline,
                "peak_mb": _peak_mb(),
            }
        )
    )


def export_time() -> None:
    """CSV then ODM, timed separately, in a transaction rolled back (the export's audit event is not
    kept: the benchmark databases stay as built). ``peak_mb`` is the process high-water mark and
    ``baseline_mb`` the same before exporting, so ``peak_mb - baseline_mb`` is what the export added."""
    from django.db import transaction

    from reports.dataset import export_dataset

    baseline = _peak_mb()
    result = {"baseline_mb": baseline}
    seconds = size = rows = 0
    with tempfile.TemporaryDirectory() as folder, transaction.atomic():
        for fmt in ("csv", "odm"):
            start = time.perf_counter()
            manifest = export_dataset(formats=[fmt], out=Path(folder) / fmt, allow_unlocked=True)
            took = time.perf_counter() - start
            written = sum(f["bytes"] for f in manifest["files"])
            result[fmt] = {"seconds": took, "bytes": written, "peak_mb_after": _peak_mb()}
            seconds, size, rows = seconds + took, size + written, sum(manifest["tables"].values())
        transaction.set_rollback(True)
    result.update({"seconds": seconds, "peak_mb": _peak_mb(), "rows": rows, "bytes": size})
    print(json.dumps(result))


def _copy(cursor, sql: str) -> int:
    buffer = io.StringIO()
    cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH CSV HEADER", buffer)
    return len(buffer.getvalue())


def _copy_queries(querysets) -> tuple[float, int]:
    """COPY of exactly the SELECTs an export runs (joins, subqueries, order), to memory."""
    with connection.cursor() as cursor:
        raw = cursor.cursor
        sqls = [raw.mogrify(*qs.query.sql_with_params()).decode() for qs in querysets]
        start = time.perf_counter()
        total = sum(_copy(raw, sql) for sql in sqls)
    return time.perf_counter() - start, total


def copy_time() -> None:
    """The floor: PostgreSQL COPY to memory, in this process. ``seconds``/``bytes``: the whole form,
    patient and adverse-event tables (as before); ``csv`` and ``odm``: the queries each export runs."""
    from crf.registry import FORMS
    from reports import odm
    from reports.dataset import collect
    from safety.models import AdverseEvent

    tables = [m._meta.db_table for m in FORMS.values()] + [Patient._meta.db_table, AdverseEvent._meta.db_table]
    start = time.perf_counter()
    total = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for table in tables:
            total += _copy(raw, f'SELECT * FROM "{table}"')  # noqa: S608 (model table names, no input)
    result = {"seconds": time.perf_counter() - start, "bytes": total}
    for fmt, querysets in (
        ("csv", [t.query for t in collect(lock=None) if t.query is not None]),
        ("odm", odm.data_queries()),
    ):
        seconds, size = _copy_queries(querysets)
        result[fmt] = {"seconds": seconds, "bytes": size}
    # XPT, SAV and DTA are written from the very tables (queries) the CSV reads.
    for fmt in ("xpt", "sav", "dta"):
        result[fmt] = result["csv"]
    print(json.dumps(result))


def longest_followed_patient() -> Patient:
    """The patient with the most visits done: the casebook that is the heaviest to print."""
    from django.db.models import Count, Q

    return (
        Patient.objects.annotate(done=Count("visits", filter=Q(visits__done_on__isnull=False)))
        .order_by("-done", "trial_number")
        .first()
    )


def pdf_time() -> None:
    from reports.models import GeneratedFile
    from reports.services import render_now

    results = {}
    patient = longest_followed_patient()
    for label, kind, subject in (
        (
            f"casebook ({patient.visits.filter(done_on__isnull=False).count()} visits done)",
            GeneratedFile.Kind.CASEBOOK,
            patient.trial_number,
        ),
        ("blank CRF book", GeneratedFile.Kind.BLANK_CRF_BOOK, ""),
    ):
        start = time.perf_counter()
        built = render_now(kind=kind, subject=subject)
        seconds = time.perf_counter() - start
        results[label] = {"seconds": seconds, "pages": built.pdf.pages, "per_page": seconds / max(built.pdf.pages, 1)}
    print(json.dumps(results))


def sweep_time() -> None:
    """The morning's sweep, rolled back: a reused trial is swept afresh on every run (a sweep that
    found every reminder already recorded would measure nothing)."""
    from django.db import transaction

    from crf.models import Visit
    from crf.reminders import visit_reminders_sweep

    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        start = time.perf_counter()
        recorded = visit_reminders_sweep()
        seconds = time.perf_counter() - start
        transaction.set_rollback(True)
    print(json.dumps({"seconds": seconds, "visits": Visit.objects.count(), "recorded": recorded, "queries": len(ctx)}))
