"""Reads for the CRF pages, each a fixed number of queries whatever the number of visits and forms."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Min, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from patients.models import Patient

from .access import expected_forms
from .models import FormNotDone, FormStatus, Query, Recurrence, Visit
from .registry import FORMS


@dataclass(frozen=True)
class SavedForm:
    """What the timeline shows of a saved CRF (the whole row is read only where it is shown)."""

    pk: int
    visit_id: int
    status: str
    version: int


@functools.cache
def _patient_forms_sql() -> str:
    """The UNION ALL over the CRF tables, written once per process.

    Hand-written rather than built with QuerySet.union(): building fifteen querysets and compiling
    their union took a third of the patient page's time (7 ms), for a statement that never changes.
    Table and column names come from the models, quoted by the database backend.
    """
    qn = connection.ops.quote_name
    # Names from the models, quoted by the backend; the values are parameters.
    return " UNION ALL ".join(
        f"SELECT %s, {qn('id')}, {qn('visit_id')}, {qn('status')}, {qn('version')} "  # noqa: S608
        f"FROM {qn(model._meta.db_table)} WHERE {qn('patient_id')} = %s"
        for model in FORMS.values()
    )


def patient_forms(patient: Patient) -> dict[int, dict[str, list[SavedForm]]]:
    """{visit id: {form code: [saved forms]}} for every CRF of the patient, in one query: a UNION ALL
    over the fifteen CRF tables (one table per CRF, so one query each would cost fifteen)."""
    by_visit: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    params = [value for code in FORMS for value in (code, patient.pk)]
    with connection.cursor() as cursor:
        cursor.execute(_patient_forms_sql(), params)
        rows = cursor.fetchall()
    for code, pk, visit_id, status, version in sorted(rows, key=lambda r: (r[0], r[1])):
        by_visit[visit_id][code].append(SavedForm(pk, visit_id, status, version))
    return by_visit


def open_query_counts(patient: Patient) -> dict[tuple[str, int], int]:
    rows = Query.objects.open().filter(patient=patient).values("form_code", "form_id").annotate(n=Count("id"))
    return {(r["form_code"], r["form_id"]): r["n"] for r in rows}


def _form_rows(visit: Visit, saved: dict[str, list], queries: dict) -> list[dict]:
    rows = []
    for code in expected_forms(visit):
        model = FORMS[code]
        forms = saved.get(code, [])
        if model.REPEATING:
            rows.append(
                {
                    "code": code,
                    "title": model.FORM_TITLE,
                    "repeating": True,
                    "entries": [
                        {"form": f, "status": f.status, "queries": queries.get((code, f.pk), 0)} for f in forms
                    ],
                    "status": None,
                    "queries": sum(queries.get((code, f.pk), 0) for f in forms),
                }
            )
        else:
            form = forms[0] if forms else None
            rows.append(
                {
                    "code": code,
                    "title": model.FORM_TITLE,
                    "repeating": False,
                    "form": form,
                    "status": form.status if form else FormStatus.NOT_STARTED,
                    "queries": queries.get((code, form.pk), 0) if form else 0,
                }
            )
    return rows


def patient_timeline(patient: Patient, today: dt.date | None = None) -> list[dict]:
    """The patient's visits in order, each with its state and forms (status, open queries)."""
    today = today or timezone.localdate()
    visits = list(Visit.objects.filter(patient=patient, retired_at__isnull=True).order_by("target_date", "sequence"))
    for visit in visits:
        visit.patient = patient  # state() reads the patient: no query per visit
    saved, queries = patient_forms(patient), open_query_counts(patient)
    rows = []
    for visit in visits:
        forms = _form_rows(visit, saved.get(visit.pk, {}), queries)
        # One reverse() per visit: a form's address is its visit's plus its code (crf/urls.py), and
        # reversing each of the sixty-odd form links took a tenth of the patient page's time.
        url = reverse("crf:visit", args=[patient.trial_number, visit.code])
        for form in forms:
            form["url"] = f"{url}{form['code']}/"
        done = sum(1 for f in forms if f["status"] in (FormStatus.COMPLETE, FormStatus.VERIFIED, FormStatus.LOCKED))
        rows.append(
            {
                "visit": visit,
                "url": url,
                "state": visit.state(today),
                "forms": forms,
                "forms_done": done,
                "forms_expected": sum(1 for f in forms if not f["repeating"]),
                "queries": sum(f["queries"] for f in forms),
            }
        )
    rows.sort(key=lambda r: (r["visit"].is_log, r["visit"].target_date, r["visit"].sequence))
    return rows


def visit_forms(visit: Visit) -> list[dict]:
    saved: dict[str, list] = defaultdict(list)
    for code, model in FORMS.items():
        if code in expected_forms(visit):
            saved[code] = list(model.objects.filter(visit=visit))
    rows = _form_rows(visit, saved, open_query_counts(visit.patient))
    not_done = {n.form_code: n for n in FormNotDone.objects.filter(visit=visit)}
    for row in rows:
        row["not_done"] = not_done.get(row["code"])
    return rows


def visits_due_queries(*, user, today: dt.date | None = None, days: int = 7) -> dict[str, QuerySet[Visit]]:
    """Visits of on-study patients whose window is open this week (``week``) or closed unmet
    (``overdue``), the nearest deadline first."""
    today = today or timezone.localdate()
    visible = (
        Visit.objects.visible_to(user)
        .open_on(today)
        .exclude(patient__status__in=Patient.OFF_STUDY)
        .select_related("patient__site")
        .order_by("window_end", "patient__trial_number", "pk")
    )
    return {
        "week": visible.filter(window_start__lte=today + dt.timedelta(days=days), window_end__gte=today),
        "overdue": visible.filter(window_end__lt=today),
    }


def visits_due(*, user, today: dt.date | None = None, days: int = 7, limit: int = 10) -> dict:
    """For the nurse's home: the first few visits due this week and overdue, and how many in all
    (the full lists are paged on their own page). The totals are counted from the index
    visit_open_by_start; the home page caches the whole panel per site (core.site_cache)."""
    today = today or timezone.localdate()
    queries = visits_due_queries(user=user, today=today, days=days)

    totals = (
        Visit.objects.visible_to(user)
        .open_on(today)
        .exclude(patient__status__in=Patient.OFF_STUDY)
        .filter(window_start__lte=today + dt.timedelta(days=days))
        .aggregate(  # a column of the index, not the id: answered from the index alone
            due=Count("window_start", filter=Q(window_end__gte=today)),
            overdue=Count("window_start", filter=Q(window_end__lt=today)),
        )
    )
    return {
        "due": list(queries["week"][:limit]),
        "due_count": totals["due"],
        "overdue": list(queries["overdue"][:limit]),
        "overdue_count": totals["overdue"],
    }


def site_query_summary(*, user) -> dict:
    """Open queries needing the site (oldest first), for the site's to-do list."""
    rows = Query.objects.visible_to(user).filter(status=Query.Status.OPEN).select_related("patient")
    summary = rows.aggregate(n=Count("id"), oldest=Min("created_at"), automatic=Count("id", filter=Q(automatic=True)))
    return {"queries": list(rows.order_by("created_at")[:10]), **summary}


# Query age bands of the data-quality dashboard (reports.dashboards.data_quality): (from, to) days.
QUERY_AGES = {"new": (None, 7), "month": (7, 30), "old": (30, None)}


def queries_by_age(queryset, age: str, now: dt.datetime | None = None):
    """``queryset`` cut to the queries opened within an age band: new (< 7 days), 7–30 days, > 30."""
    now = now or timezone.now()
    low, high = QUERY_AGES[age]
    if low is not None:
        queryset = queryset.filter(created_at__lte=now - dt.timedelta(days=low))
    if high is not None:
        queryset = queryset.filter(created_at__gt=now - dt.timedelta(days=high))
    return queryset


@dataclass(frozen=True)
class FirstRecurrences:
    """Protocol CRF 11: the first recurrence anywhere is the primary event; the first recurrence
    with the liver among its sites is the event of liver disease-free survival."""

    first_any: dt.date | None
    first_liver: dt.date | None


def first_recurrences(patient: Patient) -> FirstRecurrences:
    rows = list(
        Recurrence.objects.filter(patient=patient, recurrence_date__isnull=False, retired_at__isnull=True)
        .exclude(confirmation="biomarker")
        .values_list("recurrence_date", "site_liver")
    )
    return FirstRecurrences(
        first_any=min((day for day, _liver in rows), default=None),
        first_liver=min((day for day, liver in rows if liver), default=None),
    )


def prelock_blockers(*, today: dt.date | None = None) -> list[dict]:
    """The CRF part of the pre-lock checklist (reports.locking): each check with its blockers, named,
    in a fixed number of queries."""
    today = today or timezone.localdate()
    open_queries = [
        f"Query {q.pk} on {q.patient.trial_number} {q.visit_code} {q.form_code}.{q.field}: {q.text[:60]}"
        for q in Query.objects.open().select_related("patient").order_by("patient__trial_number", "pk")
    ]
    saved = {}
    for code, model in FORMS.items():
        for form in model.objects.only("pk", "visit_id", "status"):
            saved.setdefault((form.visit_id, code), []).append(form.status)
    not_done = set(FormNotDone.objects.values_list("visit_id", "form_code"))
    incomplete = []
    for visit in (
        Visit.objects.select_related("patient")
        .filter(retired_at__isnull=True)
        .order_by("patient__trial_number", "sequence")
    ):
        if visit.is_log or visit.missed_reason or visit.not_applicable_reason:
            continue
        if not (visit.done_on or visit.window_end < today):
            continue
        for code in expected_forms(visit):
            if FORMS[code].REPEATING or (visit.pk, code) in not_done:
                continue
            statuses = saved.get((visit.pk, code), [])
            if not statuses:
                incomplete.append(f"{visit.patient.trial_number} {visit.code} {code}: not started")
            elif FormStatus.IN_PROGRESS in statuses:
                incomplete.append(f"{visit.patient.trial_number} {visit.code} {code}: in progress")
    unverified = []
    for code, model in FORMS.items():
        for form in model.objects.filter(status=FormStatus.COMPLETE).select_related("patient", "visit"):
            unverified.append(f"{form.patient.trial_number} {form.visit.code} {code}")
    return [
        {"label": "No open queries", "blockers": open_queries},
        {
            "label": "Every expected form complete, recorded as not done, or its visit marked missed",
            "blockers": incomplete,
        },
        {"label": "Source data verification complete", "blockers": unverified},
    ]
