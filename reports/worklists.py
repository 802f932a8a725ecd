"""Work lists that read across the CRFs: the record status grid (patients × visits) and the SDV queue.

Each is a fixed number of queries whatever the number of patients, visits and forms: one page of
patients, their visits, one UNION ALL over the CRF tables, their open queries and forms not done.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import quote

from django.db import connection
from django.db.models import CharField, Count, Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Mod
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import verification
from crf import schedule, sdv_plan
from crf.access import expected_forms
from crf.models import FormNotDone, FormStatus, Query, Visit
from crf.registry import FORMS
from patients.models import Patient

# What a grid cell can show of a form, in the order of the legend. A form not done, or with an
# open query, is shown so whatever its saved status: both need someone's attention.
NOT_DONE = "not_done"
OPEN_QUERY = "open_query"
CELL_STATES = [
    (FormStatus.NOT_STARTED, _("Not started"), "○"),
    (FormStatus.IN_PROGRESS, _("In progress"), "◐"),
    (FormStatus.COMPLETE, _("Complete"), "●"),
    (FormStatus.VERIFIED, _("Verified"), "✔"),
    (FormStatus.LOCKED, _("Locked"), "■"),
    (NOT_DONE, _("Not done"), "⊘"),
    (OPEN_QUERY, _("Open query"), "?"),
]
STATE_LABELS = {code: label for code, label, _glyph in CELL_STATES}
STATE_GLYPHS = {code: glyph for code, _label, glyph in CELL_STATES}
OFF_STUDY = (Patient.Status.COMPLETED, Patient.Status.WITHDRAWN, Patient.Status.DIED)


@dataclass
class Cell:
    """One patient's visit: its state and, when forms are expected by now, each form's state."""

    visit: Visit | None
    state: str = ""
    url: str = ""
    forms: list[dict] = field(default_factory=list)


@dataclass
class GridRow:
    patient: Patient
    cells: list[Cell]
    unscheduled: list[Cell]


def grid_columns() -> list[schedule.VisitDef]:
    """The scheduled visits in protocol order (both arms' visits: a cell is empty where an arm has none)."""
    return list(schedule.schedule())


@functools.cache
def _forms_sql(n_patients: int) -> str:
    """UNION ALL over the CRF tables for ``n_patients`` patients: one statement per page size.

    Hand-written like crf.selectors.patient_forms, for the same reason: composing fifteen
    querysets into a union on every request costs more than the query itself.
    """
    qn = connection.ops.quote_name
    marks = ", ".join(["%s"] * n_patients)
    return " UNION ALL ".join(
        f"SELECT %s, {qn('id')}, {qn('visit_id')}, {qn('status')} "  # noqa: S608 - names from the models
        f"FROM {qn(model._meta.db_table)} WHERE {qn('patient_id')} IN ({marks})"
        for model in FORMS.values()
    )


def _saved_forms(patient_ids: list[int]) -> dict[int, dict[str, list[tuple[int, str]]]]:
    """{visit id: {form code: [(form id, status)]}} for the patients, in one query."""
    by_visit: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    if not patient_ids:
        return by_visit
    params = [value for code in FORMS for value in (code, *patient_ids)]
    with connection.cursor() as cursor:
        cursor.execute(_forms_sql(len(patient_ids)), params)
        rows = cursor.fetchall()
    for code, pk, visit_id, status in sorted(rows, key=lambda r: (r[0], r[1])):
        by_visit[visit_id][code].append((pk, status))
    return by_visit


def _status_filter(status: str, today: dt.date) -> Q | None:
    """Patients with at least one form in ``status`` (a CELL_STATES code), as a subquery filter."""
    if status in (FormStatus.IN_PROGRESS, FormStatus.COMPLETE, FormStatus.VERIFIED, FormStatus.LOCKED):
        q = Q(pk__in=[])
        for model in FORMS.values():
            q |= Q(pk__in=model.objects.filter(status=status).values("patient_id"))
        return q
    if status == OPEN_QUERY:
        return Q(pk__in=Query.objects.open().values("patient_id"))
    if status == NOT_DONE:
        return Q(pk__in=FormNotDone.objects.values("visit__patient_id"))
    if status == FormStatus.NOT_STARTED:
        # "Not started" as a filter means missing: a form expected at a visit that took place or
        # whose window has closed. Forms of visits still ahead are not started by design.
        past_or_done = Visit.objects.filter(retired_at__isnull=True, missed_reason="", not_applicable_reason="").filter(
            Q(done_on__isnull=False) | (Q(window_end__lt=today) & ~Q(patient__status__in=OFF_STUDY))
        )
        q = Q(pk__in=[])
        for visit_def in schedule.schedule():
            for code in visit_def.forms:
                model = FORMS[code]
                if model.REPEATING:
                    continue
                q |= Q(
                    pk__in=past_or_done.filter(code=visit_def.code)
                    .exclude(pk__in=model.objects.values("visit_id"))
                    .exclude(pk__in=FormNotDone.objects.filter(form_code=code).values("visit_id"))
                    .values("patient_id")
                )
        return q
    return None


def grid_patients(*, user, site: str = "", arm: str = "", status: str = "", today: dt.date | None = None) -> QuerySet:
    """The randomised patients the user may see, filtered, in trial-number order (to be paged)."""
    today = today or timezone.localdate()
    # Patients with a schedule: the visits are created at randomisation (crf.services).
    patients = (
        Patient.objects.visible_to(user)
        .filter(visits__code="RAND")
        .select_related("site")
        .annotate(arm=F("allocation__arm"))
        .order_by("trial_number")
    )
    if site:
        patients = patients.filter(site__code=site)
    if arm:
        patients = patients.filter(allocation__arm=arm)
    status_q = _status_filter(status, today)
    if status_q is not None:
        patients = patients.filter(status_q)
    return patients


def _form_link(base: str, code: str, form_id: int | None, repeating: bool) -> str:
    # A form's address is its visit's plus its code (crf/urls.py): one reverse() per visit.
    return f"{base}{code}/{form_id}/" if repeating and form_id else f"{base}{code}/"


# reverse() quotes a path argument with these characters left as they are (django.urls.resolvers).
_PATH_SAFE = "!$&'()*+,;=/~:@"
_CODE = "__visit_code__"


def _visit_base(trial_number: str) -> str:
    """A patient's visit address with a placeholder for the visit's code: one reverse() a patient
    instead of one a visit (a page of the grid has some 400 visits; reverse() was a tenth of it)."""
    return reverse("crf:visit", args=[trial_number, _CODE])


def _cell(
    visit: Visit, saved: dict, queries: dict, not_done: set, today: dt.date, definitions: dict, visit_base: str
) -> Cell:
    base = visit_base.replace(_CODE, quote(visit.code, safe=_PATH_SAFE))
    state = visit.state(today)
    cell = Cell(visit=visit, state=state, url=base)
    if state in (Visit.State.UPCOMING, Visit.State.MISSED, Visit.State.NOT_APPLICABLE) and not saved:
        return cell
    for code in expected_forms(visit, definitions):
        model = FORMS[code]
        entries = saved.get(code, [])
        if model.REPEATING:
            continue
        form_id, form_status = entries[0] if entries else (None, FormStatus.NOT_STARTED)
        shown = NOT_DONE if (code in not_done and form_id is None) else form_status
        n_queries = queries.get((code, form_id), 0) if form_id else 0
        cell.forms.append(
            {
                "code": code,
                "title": model.FORM_TITLE,
                "state": shown,
                "queries": n_queries,
                "url": _form_link(base, code, form_id, model.REPEATING),
            }
        )
    return cell


def grid_rows(patients: list[Patient], today: dt.date | None = None) -> list[GridRow]:
    """The grid's rows for one page of patients, in four queries whatever their number."""
    today = today or timezone.localdate()
    ids = [p.pk for p in patients]
    by_id = {p.pk: p for p in patients}
    Patient.prime_sample_consent(patients)  # which visits expect a biomarker sample (CRF 13)
    visits: dict[int, dict[str, Visit]] = defaultdict(dict)
    unscheduled: dict[int, list[Visit]] = defaultdict(list)
    for visit in (
        Visit.objects.filter(patient_id__in=ids, retired_at__isnull=True)
        .exclude(code=Visit.LOG_CODE)
        .order_by("target_date", "sequence")
    ):
        visit.patient = by_id[visit.patient_id]  # state() reads the patient: no query per visit
        if visit.unscheduled:
            unscheduled[visit.patient_id].append(visit)
        else:
            visits[visit.patient_id][visit.code] = visit
    saved = _saved_forms(ids)
    queries = {
        (r["form_code"], r["form_id"]): r["n"]
        for r in Query.objects.open().filter(patient_id__in=ids).values("form_code", "form_id").annotate(n=Count("id"))
    }
    not_done: dict[int, set[str]] = defaultdict(set)
    for visit_id, code in FormNotDone.objects.filter(visit__patient_id__in=ids).values_list("visit_id", "form_code"):
        not_done[visit_id].add(code)
    columns = grid_columns()
    definitions = {d.code: d for d in columns}
    rows = []
    for patient in patients:
        visit_base = _visit_base(patient.trial_number)
        cells = []
        for column in columns:
            visit = visits[patient.pk].get(column.code)
            cells.append(
                _cell(visit, saved.get(visit.pk, {}), queries, not_done[visit.pk], today, definitions, visit_base)
                if visit
                else Cell(None)
            )
        extra = [
            _cell(v, saved.get(v.pk, {}), queries, not_done[v.pk], today, definitions, visit_base)
            for v in unscheduled[patient.pk]
        ]
        rows.append(GridRow(patient=patient, cells=cells, unscheduled=extra))
    return rows


# The SDV queue (Rave's and OpenClinica's): complete forms waiting for the monitor, and forms
# changed since they were verified, oldest first.
SDV_AWAITING = "awaiting"
SDV_CHANGED = "changed"
SDV_LOCKABLE = "lockable"  # the data manager's: verified and not yet locked
SDV_KINDS = [
    (SDV_AWAITING, _("Awaiting SDV")),
    (SDV_CHANGED, _("Changed since verified")),
    (SDV_LOCKABLE, _("Verified, to lock")),
]


@dataclass
class SdvRow:
    form_code: str
    form_title: str
    form_id: int
    status: str
    since: dt.datetime | None
    was_verified: bool
    patient: Patient | None = None
    visit: Visit | None = None
    url: str = ""
    plan: str = ""  # what the SDV plan asks of this form (crf.sdv_plan)


def _needs_sdv(form_code: str) -> tuple[Q, Q]:
    """The plan's rule for a form as filters on its rows: (needs SDV, does not); crf.sdv_plan.needs_sdv
    in SQL. Explicit both ways: the negation of an empty Q() is empty too, not "nothing"."""
    level = sdv_plan.plan_for(form_code).level
    nothing = Q(pk__in=[])
    if level == sdv_plan.SdvLevel.NONE:
        return nothing, Q()
    if level == sdv_plan.SdvLevel.SAMPLE:
        # Site sequence 1, 1 + N, 1 + 2N ...: sequence mod N == 1 (N = 1 samples everyone).
        sampled = Q(sdv_sequence_mod=1 % sdv_plan.SAMPLE_EVERY)
        return sampled, ~sampled
    return Q(), nothing


def sdv_forms(*, user, kind: str = SDV_AWAITING, site: str = "", form_code: str = ""):
    """The queue as one UNION ALL over the CRF tables (ordered and sliced by the database, so a page
    costs the same at any size): (form code, id, patient id, visit id, status, since, was verified).

    ``awaiting``: complete and never verified, or complete again after a change, when the SDV plan
    asks for it (crf.sdv_plan); ``changed``: verified once and changed since (in progress or
    complete again); ``lockable``: verified, or complete and not asked for by the plan.
    """
    parts = []
    for code, model in FORMS.items():
        if form_code and code != form_code:
            continue
        verified_before = model.history.model.objects.filter(id=OuterRef("pk"), status=FormStatus.VERIFIED)
        rows = model.objects.filter(patient__in=Patient.objects.visible_to(user)).annotate(
            form_code=Value(code, output_field=CharField()),
            was_verified=Exists(verified_before),
            sdv_sequence_mod=Mod(F("patient__site_sequence"), sdv_plan.SAMPLE_EVERY),
        )
        if site:
            rows = rows.filter(patient__site__code=site)
        # The monitoring plan (crf.sdv_plan) decides which complete forms wait for the monitor;
        # those it does not ask to verify may be locked as they are.
        needs, not_needed = _needs_sdv(code)
        if kind == SDV_CHANGED:
            rows = rows.filter(status__in=(FormStatus.IN_PROGRESS, FormStatus.COMPLETE), was_verified=True)
        elif kind == SDV_LOCKABLE:
            rows = rows.filter(Q(status=FormStatus.VERIFIED) | (Q(status=FormStatus.COMPLETE) & not_needed))
        else:
            rows = rows.filter(needs, status=FormStatus.COMPLETE)
        parts.append(
            rows.values_list("form_code", "id", "patient_id", "visit_id", "status", "updated_at", "was_verified")
        )
    if not parts:
        return FORMS["demographics"].objects.none().values_list("id")
    first, *rest = parts
    rows = first.union(*rest, all=True) if rest else first
    return rows.order_by("updated_at", "form_code", "id")


def sdv_rows(page_rows) -> list[SdvRow]:
    """The page's rows with their patients and visits, in two queries."""
    rows = [
        SdvRow(code, str(FORMS[code].FORM_TITLE), pk, status, since, was_verified)
        for code, pk, _patient_id, _visit_id, status, since, was_verified in page_rows
    ]
    patient_ids = {r[2] for r in page_rows}
    visit_ids = {r[3] for r in page_rows}
    patients = Patient.objects.select_related("site").in_bulk(patient_ids)
    visits = Visit.objects.in_bulk(visit_ids)
    for row, raw in zip(rows, page_rows, strict=True):
        row.patient, row.visit = patients[raw[2]], visits[raw[3]]
        model = FORMS[row.form_code]
        entry = sdv_plan.plan_for(row.form_code)
        row.plan = str(sdv_plan.SdvLevel(entry.level).label)
        if entry.level == sdv_plan.SdvLevel.TARGETED:
            row.plan += f" ({len(entry.fields)})"
        args = [row.patient.trial_number, row.visit.code, row.form_code]
        row.url = reverse("crf:entry", args=[*args, row.form_id]) if model.REPEATING else reverse("crf:form", args=args)
    return rows


# Records outside the CRFs the SDV plan covers in full (crf.sdv_plan.OTHER_RECORDS): consent,
# eligibility, SAE reports, as each domain registers them with core.verification.
@dataclass
class SdvRecordRow:
    kind: verification.VerifiableKind
    record: object
    status: str
    since: dt.datetime
    patient: Patient | None = None
    url: str = ""
    verify_url: str = ""
    description: str = ""


def _record_rows(kind: verification.VerifiableKind, *, user, site: str, status: str) -> QuerySet:
    rows = verification.annotate_status(kind, kind.visible(user).filter(kind.ready))
    if site:
        rows = rows.filter(**{f"{kind.patient_path}__site__code": site})
    return verification.filter_status(rows, status)


def sdv_records(*, user, kind: str = "", site: str = "", status: str = verification.AWAITING):
    """The record queue as one UNION ALL over the registered kinds, ordered by the database (a page
    costs the same at any size): (kind code, id, patient id, last saved)."""
    parts = [
        _record_rows(k, user=user, site=site, status=status).values_list(
            Value(code, output_field=CharField()), "pk", f"{k.patient_path}_id", "updated_at"
        )
        for code, k in verification.KINDS.items()
        if not kind or code == kind
    ]
    if not parts:
        return Patient.objects.none().values_list("trial_number")
    first, *rest = parts
    rows = first.union(*rest, all=True) if rest else first
    return rows.order_by("updated_at", "pk")


def sdv_record_counts(*, user, site: str = "") -> list[tuple[verification.VerifiableKind, dict[str, int]]]:
    """Per kind, the number of records in each SDV status (one query per kind and status)."""
    return [
        (k, {s: _record_rows(k, user=user, site=site, status=s).count() for s, _label in verification.STATUSES})
        for k in verification.KINDS.values()
    ]


def sdv_record_rows(page_rows, *, status: str) -> list[SdvRecordRow]:
    """The page's rows with their records and patients: one query per kind on the page, and one."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for code, pk, _patient_id, _since in page_rows:
        wanted[code].add(pk)
    records = {}
    for code, ids in wanted.items():
        kind = verification.KINDS[code]
        records[code] = kind.model.objects.select_related(*kind.related).in_bulk(ids)
    patients = Patient.objects.select_related("site").in_bulk({r[2] for r in page_rows})
    rows = []
    for code, pk, patient_id, since in page_rows:
        kind, record = verification.KINDS[code], records[code][pk]
        rows.append(
            SdvRecordRow(
                kind=kind,
                record=record,
                status=status,
                since=since,
                patient=patients[patient_id],
                url=kind.record_url(record),
                verify_url=kind.verify_url(record),
                description=str(kind.describe(record)),
            )
        )
    return rows
