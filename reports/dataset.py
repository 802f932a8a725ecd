"""Dataset exports for analysis: one CSV per form with a data dictionary, CDISC ODM 1.3.2 XML,
SAS transport (XPT v5), SPSS and Stata files, and a manifest.

Exports are pseudonymised (trial numbers, never names or initials), deterministic (rows and columns
in a fixed order, timestamps taken from the lock, not the clock) so the same lock exported twice
gives byte-identical data files, and each export writes a manifest with row counts and SHA-256.
Written by hand around pyreadstat and lxml: no Django library exports a study to ODM or XPT.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import heapq
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files import File
from django.db import connections, models, transaction
from django.db.models import Case, F, OuterRef, Subquery, Value, When
from django.db.models.functions import Collate
from django.db.models.sql.constants import MULTI
from django.utils import timezone

from accounts.models import AuditEvent
from core.audit import audit_event_record
from core.documents import BuiltDocument, RenderedPdf
from core.errors import DomainError
from core.exports import _FORMULA_START
from crf import schedule

# The data dictionary's columns are the CRFs' own (crf.dictionary); re-exported for the readers here.
from crf.dictionary import Column, codes_of, field_kind, form_columns, plain
from crf.models import DatasetLock, FormNotDone, FormStatus, Query, Recurrence, Visit
from crf.registry import FORMS
from patients.codelists import Sex
from patients.eligibility import NOT_APPLICABLE_MALE, NOT_ASKED_OF_MALE_PATIENTS
from patients.models import Consent, EligibilityAssessment, Patient, Withdrawal
from randomisation.codelists import Arm
from safety.models import AdverseEvent, SaeReport

from . import statfiles
from .missing import (
    BY_KEY,
    FORM_CONTEXT,
    MISSING_CODES,
    NOT_APPLICABLE_WHY,
    PatientFacts,
    absent_rows,
    column_rules,
    scheduled_forms,
    visit_absent,
    visit_facts,
)
from .models import LockSnapshotFile

FORMATS = ("csv", "odm", "xpt", "sav", "dta")
CONTEXT_COLUMNS = list(FORM_CONTEXT)


# Rows are fetched as tuples (values_list) through a server-side cursor in chunks of this many, so
# memory stays bounded whatever the number of patients.
CHUNK = 2000


@dataclass
class Table:
    """One table of the export. ``query`` gives tuples in column order (context columns first)."""

    name: str
    label: str
    columns: list[Column]
    query: models.QuerySet | None
    # Analysis files are derived in Python from several tables: a generator of tuples instead.
    source: object = None
    # How many rows iter_rows gives, where that is not query.count() (a source that adds rows).
    counter: object = None

    def iter_rows(self):
        if self.source is not None:
            return self.source()
        return self.query.iterator(chunk_size=CHUNK)

    def count(self) -> int:
        """The number of rows iter_rows gives."""
        if self.counter is not None:
            return self.counter()
        return sum(1 for _row in self.iter_rows()) if self.query is None else self.query.count()

    def iter_chunks(self):
        """The rows in chunks of at most CHUNK, each chunk a list of columns (one sequence of values
        per column, in column order): what the CSV and the statistical writers consume."""
        if self.source is None and isinstance(self.query, models.QuerySet):
            yield from query_chunks(self.query)
            return
        rows = iter(self.iter_rows())
        while chunk := list(itertools.islice(rows, CHUNK)):
            yield list(zip(*chunk, strict=True))


def query_chunks(queryset: models.QuerySet):
    """A values_list query's rows in chunks of columns, straight from the (server-side) cursor.

    By hand, on Django's compiler API exactly as SQLCompiler.results_iter uses it, because the
    profile of an export showed Django's per-row work (converters applied row by row, each row
    rebuilt as a list then a tuple) costing as much as the database's: here each converter runs
    once per column and chunk. (Numerics stay Decimals: reading them as text through a cast of our
    own measured slower on the 1,000-patient trial, 3 Dec 2026: psycopg2 builds a Decimal in C, a
    Python cast is a call per value.)"""
    connection = connections[queryset.db]
    compiler = queryset.query.get_compiler(queryset.db)
    chunked = not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    results = compiler.execute_sql(MULTI, chunked_fetch=chunked, chunk_size=CHUNK)
    fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
    if compiler.has_composite_fields(fields):
        raise ValueError("An exported query selects a composite primary key: not supported.")
    converters = compiler.get_converters(fields)
    for rows in results:
        columns = list(zip(*rows, strict=True))
        for index, (functions, expression) in converters.items():
            values = columns[index]
            for function in functions:
                values = [function(v, expression, connection) for v in values]
            columns[index] = values
        yield columns


def collect(*, lock: DatasetLock | None) -> list[Table]:
    """Every form as a table, plus patients and adverse events, in a fixed order (queries, not rows)."""
    context = [
        Column("trial_number", "Trial number", "text"),
        Column("site", "Site", "text"),
        Column("visit", "Visit", "text"),
        Column("entry", "Entry of a repeating form", "integer"),
        Column(
            "form_status",
            "Form status",
            "text",
            codes=(
                *((str(v), str(label)) for v, label in FormStatus.choices if v != FormStatus.NOT_STARTED),
                *((BY_KEY[key].key, f"No data: {BY_KEY[key].label.lower()}") for key in BY_KEY if key != "unknown"),
            ),
            derived_from="a saved form's status; for a row standing for an expected form with no data, "
            "its missing-data code",
        ),
        Column("form_version", "Form version", "integer"),
        Column(
            "missing_reason",
            "Why the form has no data",
            "text",
            derived_from="the reason the form was not done or the visit missed or not applicable, as recorded; "
            "or the withdrawal, consent or death that makes it not applicable",
        ),
        Column("not_applicable_why", "Why not applicable", "text", codes=NOT_APPLICABLE_WHY),
    ]
    tables = []
    recurrences = Recurrence.objects.filter(patient=OuterRef("pk"), recurrence_date__isnull=False).exclude(
        confirmation="biomarker"
    )
    first = recurrences.order_by("recurrence_date").values("recurrence_date")[:1]
    first_liver = recurrences.filter(site_liver=True).order_by("recurrence_date").values("recurrence_date")[:1]
    patients = (
        Patient.objects.order_by("trial_number")
        .annotate(_first_recurrence=Subquery(first), _first_liver_recurrence=Subquery(first_liver))
        .values_list(
            "trial_number",
            "site__code",
            "sex",
            "year_of_birth",
            "status",
            "liver_resection_date",
            "allocation__arm",
            "allocation__randomised_at",
            "allocation__stratum",
            "_first_recurrence",
            "_first_liver_recurrence",
        )
    )
    tables.append(
        Table(
            "patients",
            "Patients",
            [
                Column("trial_number", "Trial number", "text"),
                Column("site", "Site", "text"),
                Column("sex", "Sex", "text", codes=codes_of(Sex)),
                Column("year_of_birth", "Year of birth", "integer"),
                Column("status", "Status", "text"),
                Column("liver_resection_date", "Date of liver resection", "date"),
                Column("arm", "Randomised arm", "text", codes=codes_of(Arm)),
                Column("randomised_at", "Randomised at", "datetime"),
                Column("stratum", "Stratum", "text", derived_from="eligibility: primary site, WHO grade, margin"),
                # The same rule as crf.selectors.first_recurrences (protocol CRF 11).
                Column(
                    "first_recurrence_date",
                    "Date of first recurrence anywhere",
                    "date",
                    derived_from="earliest recurrence form date (imaging or biopsy confirmed)",
                ),
                Column(
                    "first_liver_recurrence_date",
                    "Date of first liver recurrence",
                    "date",
                    derived_from="earliest recurrence form date with the liver among the sites",
                ),
            ],
            patients,
        )
    )
    facts = PatientFacts()  # built once, on the first form table that needs it
    for code in sorted(FORMS):
        tables.append(_form_table(code, context, facts))
    ae_fields = [
        f for f in AdverseEvent._meta.concrete_fields if f.name not in AdverseEvent.BOOKKEEPING_FIELDS | {"patient"}
    ]
    ae_columns = [
        Column(f.name, str(f.verbose_name), field_kind(f), codes=tuple((str(v), str(lbl)) for v, lbl in f.flatchoices))
        for f in ae_fields
    ]
    tables.append(
        Table(
            "adverse_events",
            "Adverse events",
            [Column("trial_number", "Trial number", "text"), Column("ae_id", "AE id", "integer"), *ae_columns],
            AdverseEvent.objects.order_by("patient__trial_number", "pk").values_list(
                "patient__trial_number", "pk", *(f.name for f in ae_fields)
            ),
        )
    )
    tables += domain_tables(facts)
    # Derived from the tables above, so it imports this module: imported here, not at the top.
    from .analysis import SUBJECT_COLUMNS, TTE_COLUMNS, subject_rows, tte_rows

    # One row per randomised patient (analysis._randomised_chunks): counted, not derived, for an
    # export whose formats do not write the table (the ODM's manifest).
    tables.append(
        Table(
            "subjects",
            "Analysis: one row per randomised patient",
            SUBJECT_COLUMNS,
            None,
            subject_rows,
            counter=Patient.objects.filter(allocation__isnull=False).count,
        )
    )
    tables.append(
        Table("time_to_event", "Analysis: time to event per endpoint and origin", TTE_COLUMNS, None, tte_rows)
    )
    return tables


def _form_table(code: str, context: list[Column], facts: PatientFacts) -> Table:
    """One CRF's table: its saved forms and, at each scheduled visit where it is expected but has no
    data, a row standing for it with its missing-data code and reason (reports.missing.absent_form),
    merged in the same order (trial number, visit sequence)."""
    model = FORMS[code]
    columns = form_columns(model)
    # Columns that are keys of a derived JSON field are read as annotations under their name.
    expanded = {c.name: c.expression for c in columns if c.expression is not None}
    # The entry number is the row's id for repeating forms, empty otherwise.
    forms = model.objects.annotate(
        _entry=F("pk") if model.REPEATING else Value(None, models.IntegerField()),
        _no_reason=Value("", models.CharField()),
        _no_why=Value("", models.CharField()),
        **expanded,
    ).order_by(
        # Byte order (collation C) whatever the database's default: the rows standing for absent forms
        # are merged in by Python's string comparison, which is byte order.
        Collate(F("patient__trial_number"), "C"),
        "visit__sequence",
        "pk",
    )
    fields = [
        "patient__trial_number",
        "patient__site__code",
        "visit__code",
        "_entry",
        "status",
        "version",
        "_no_reason",
        "_no_why",
        *(c.name for c in columns),
    ]
    saved = forms.values_list(*fields)
    if model.REPEATING or code not in scheduled_forms():
        return Table(code, str(model.FORM_TITLE), context + columns, saved)
    blank = (None,) * len(columns)

    def rows():
        # Both streams come from the database in byte order of the trial number, then the visit's.
        # The saved rows through query_chunks (converters per column and chunk, not per row).
        keyed_saved = (
            ((row[0], row[-1]), row[:-1])
            for columns in query_chunks(forms.values_list(*fields, "visit__sequence"))
            for row in zip(*columns, strict=True)
        )
        keyed_absent = (
            (
                (visit.trial_number, visit.sequence),
                (
                    visit.trial_number,
                    visit.site,
                    visit.code,
                    None,
                    absent.code.key,
                    None,
                    absent.reason,
                    absent.why,
                    *blank,
                ),
            )
            for visit, absent in absent_rows(code, facts)
        )
        for _key, row in heapq.merge(keyed_saved, keyed_absent, key=_first):
            yield tuple(row)

    def count():
        return saved.count() + sum(1 for _ in absent_rows(code, facts))

    return Table(code, str(model.FORM_TITLE), context + columns, saved, source=rows, counter=count)


def _first(pair):
    return pair[0]


def _model_table(
    name: str, label: str, model, *, patient_path: str, order: list[str], skip=(), overrides=None
) -> Table:
    """Every concrete field of ``model`` but bookkeeping: users by username, the patient by trial
    number, other records by id. ``overrides``: field name → (Column, expression) for a field
    exported as an expression instead of its stored value."""
    user_model = get_user_model()
    overrides = overrides or {}
    columns = [Column("trial_number", "Trial number", "text"), Column("record_id", f"{label}: id", "integer")]
    paths = [f"{patient_path}trial_number", "pk"]
    bookkeeping = getattr(model, "BOOKKEEPING_FIELDS", frozenset({"id"}))
    for field in model._meta.concrete_fields:
        if field.name in bookkeeping or field.name in skip or field.name == "patient":
            continue
        if field.name in overrides:
            columns.append(overrides[field.name][0])
            paths.append(f"_{field.name}")
            continue
        if isinstance(field, models.ForeignKey):
            if field.related_model is user_model:
                columns.append(Column(field.name, f"{field.verbose_name} (user)", "text"))
                paths.append(f"{field.name}__username")
            else:
                columns.append(Column(f"{field.name}_id", f"{field.verbose_name} (id)", "integer"))
                paths.append(field.attname)
            continue
        kind = "text" if isinstance(field, models.JSONField) else field_kind(field)
        codes = tuple((str(v), str(lbl)) for v, lbl in field.flatchoices if v not in ("", None))
        columns.append(Column(field.name, str(field.verbose_name), kind, codes=codes))
        paths.append(field.name)
    rows = model.objects.annotate(**{f"_{n}": expression for n, (_c, expression) in overrides.items()})
    return Table(name, label, columns, rows.order_by(*order).values_list(*paths))


def _not_asked_of_men() -> dict:
    """The eligibility questions not asked of male patients (patients.eligibility), exported as
    "NA" (not applicable) for a man and 1/0 or empty (not answered) for a woman: a missing answer
    and a question never asked stay distinguishable (protocol, Analysis datasets)."""
    overrides = {}
    for name in NOT_ASKED_OF_MALE_PATIENTS:
        field = EligibilityAssessment._meta.get_field(name)
        expression = Case(
            When(patient__sex="M", then=Value("NA")),
            When(**{name: True}, then=Value("1")),
            When(**{name: False}, then=Value("0")),
            default=Value(""),
            output_field=models.CharField(),
        )
        codes = (("1", "Yes"), ("0", "No"), ("NA", NOT_APPLICABLE_MALE))
        overrides[name] = (Column(name, str(field.verbose_name), "text", codes=codes), expression)
    return overrides


def domain_tables(facts: PatientFacts | None = None) -> list[Table]:
    """Visits with their status, forms not done, consent, eligibility, withdrawal, SAE reports and
    queries: what the statistician and the inspector need beside the CRFs."""

    def visit_rows():
        # One rule for the visit's code and its forms' (reports.missing.visit_absent).
        for v in visit_facts(facts=facts):
            absent = visit_absent(v)
            if v.done_on is not None:
                status = "done"
            elif absent is None:
                status = "not_done_yet"
            else:
                status = "missed" if absent.code.key == "visit_missed" else "not_applicable"
            yield (
                v.trial_number,
                v.site,
                v.code,
                v.label,
                v.target_date,
                v.window_start,
                v.window_end,
                v.done_on,
                status,
                v.missed_reason,
                v.not_applicable_reason,
                absent.why if absent is not None else "",
                v.unscheduled_reason,
            )

    visit_query = Visit.objects.filter(retired_at__isnull=True)
    visits = Table(
        "visits",
        "Visits: target, window, date done, status",
        [
            Column("trial_number", "Trial number", "text"),
            Column("site", "Site", "text"),
            Column("visit", "Visit", "text"),
            Column("label", "Visit label", "text"),
            Column("target_date", "Target date", "date"),
            Column("window_start", "Window opens", "date"),
            Column("window_end", "Window closes", "date"),
            Column("done_on", "Date done", "date"),
            Column(
                "visit_status",
                "Visit status",
                "text",
                codes=(
                    ("done", "Done"),
                    ("missed", "Visit missed (reason given)"),
                    ("not_applicable", "Not applicable (why given)"),
                    ("not_done_yet", "Not entered: no date and no reason recorded"),
                ),
                derived_from="done if a date; missed if a reason missed; not applicable if a reason, or if its "
                "window was still open at a follow-up or data-use withdrawal or at death",
            ),
            Column("missed_reason", "Reason missed", "text"),
            Column("not_applicable_reason", "Why not applicable (as recorded)", "text"),
            Column("not_applicable_why", "Why not applicable", "text", codes=NOT_APPLICABLE_WHY),
            Column("unscheduled_reason", "Reason for an unscheduled visit", "text"),
        ],
        visit_query,
        source=visit_rows,
        counter=visit_query.count,
    )
    not_done = Table(
        "forms_not_done",
        "Forms recorded as not done, with the reason",
        [
            Column("trial_number", "Trial number", "text"),
            Column("visit", "Visit", "text"),
            Column("form", "Form", "text", codes=tuple((code, str(FORMS[code].FORM_TITLE)) for code in sorted(FORMS))),
            Column("reason", "Reason not done", "text"),
        ],
        FormNotDone.objects.order_by("visit__patient__trial_number", "visit__sequence", "form_code").values_list(
            "visit__patient__trial_number", "visit__code", "form_code", "reason"
        ),
    )
    return [
        visits,
        not_done,
        _model_table(
            "consents",
            "Consents and optional consents",
            Consent,
            patient_path="patient__",
            order=["patient__trial_number", "consented_at", "pk"],
        ),
        _model_table(
            "eligibility",
            "Eligibility assessment",
            EligibilityAssessment,
            patient_path="patient__",
            order=["patient__trial_number", "pk"],
            overrides=_not_asked_of_men(),
        ),
        _model_table(
            "withdrawals",
            "Withdrawals (level, date)",
            Withdrawal,
            patient_path="patient__",
            order=["patient__trial_number", "withdrawn_on", "pk"],
        ),
        _model_table(
            "sae_reports",
            "SAE reports with the investigator's and the sponsor's assessment",
            SaeReport,
            patient_path="adverse_event__patient__",
            order=["adverse_event__patient__trial_number", "adverse_event_id", "number", "pk"],
        ),
        _model_table("queries", "Data queries", Query, patient_path="patient__", order=["patient__trial_number", "pk"]),
    ]


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plain_formatter(kind: str):
    """A function equal to ``plain(value, kind)`` for every value, chosen once per column: the common
    types take a short path, anything else goes through plain()."""

    def general(value):
        return plain(value, kind)

    exact = {"text": str, "integer": int, "date": dt.date, "time": dt.time}.get(kind)
    if kind == "boolean":

        def boolean(value):
            if value is True:
                return "1"
            if value is False:
                return "0"
            return "" if value is None else general(value)

        return boolean
    if exact is str:

        def text(value):
            return value if value.__class__ is str else ("" if value is None else general(value))

        return text
    if exact is int:

        def integer(value):
            return str(value) if value.__class__ is int else ("" if value is None else general(value))

        return integer
    if exact is not None:

        def iso(value):
            return value.isoformat() if value.__class__ is exact else ("" if value is None else general(value))

        return iso
    if kind == "float":

        def decimal(value):
            if value.__class__ is Decimal:
                return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
            return "" if value is None else general(value)

        return decimal
    if kind == "datetime":

        def utc(value):
            # The database gives UTC datetimes: isoformat() (which, like strftime, drops the
            # microseconds) is faster than astimezone().strftime(); strftime does not pad years < 1000.
            if value.__class__ is dt.datetime and value.tzinfo is dt.UTC and value.year >= 1000:
                return value.isoformat(timespec="seconds")[:19] + "Z"
            return "" if value is None else general(value)

        return utc
    return general


# What plain() writes for a number: an optional minus, digits, optional decimals (no exponent).
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def cell_formatter(kind: str):
    """A function giving the CSV cell of a value, chosen once per column: plain() text, neutralised
    as csv_safe() does when it starts like a spreadsheet formula (= + - @, tab, CR).

    Numbers stay numbers, as csv_safe() promises: a numeric column (integer, float) holds "-3" or
    "-0.5" as R, SAS or Stata expect, not "'-3". Only a cell of a numeric column that is not a
    number (which the database does not give) would still be neutralised.
    """
    to_text = plain_formatter(kind)
    if kind in ("integer", "float"):

        def number(value):
            text = to_text(value)
            if text.startswith(_FORMULA_START) and _NUMBER.fullmatch(text) is None:
                return "'" + text
            return text

        return number

    def cell(value):
        text = to_text(value)
        return "'" + text if text.startswith(_FORMULA_START) else text

    return cell


def column_formatter(kind: str):
    """cell_formatter() applied to a whole column of a chunk: the commonest type of the kind takes
    an inline path (no call per cell), every other value goes through cell_formatter()."""
    cell = cell_formatter(kind)
    # An empty value is an empty cell (plain(None) is ""): inline too, as a third of the cells of a
    # form table are empty (the rows standing for absent forms, the fields not entered).
    if kind == "integer":
        # str() of an int is a number: never neutralised (cell_formatter's rule for numbers).
        return lambda values: [str(v) if v.__class__ is int else "" if v is None else cell(v) for v in values]
    if kind == "text":
        return lambda values: [
            ("'" + v if v.startswith(_FORMULA_START) else v) if v.__class__ is str else "" if v is None else cell(v)
            for v in values
        ]
    if kind == "boolean":
        return lambda values: [
            "1" if v is True else "0" if v is False else "" if v is None else cell(v) for v in values
        ]
    if kind == "date":
        # An ISO date starts with a digit: never neutralised.
        return lambda values: [
            v.isoformat() if v.__class__ is dt.date else "" if v is None else cell(v) for v in values
        ]
    if kind == "float":
        return lambda values: [
            _decimal_text(v) if v.__class__ is Decimal else "" if v is None else cell(v) for v in values
        ]
    if kind == "datetime":
        # plain_formatter's UTC path inline (an ISO datetime starts with a digit: never neutralised).
        return lambda values: [
            v.isoformat(timespec="seconds")[:19] + "Z"
            if v.__class__ is dt.datetime and v.tzinfo is dt.UTC and v.year >= 1000
            else ""
            if v is None
            else cell(v)
            for v in values
        ]
    return lambda values: list(map(cell, values))


def _decimal_text(value: Decimal) -> str:
    """plain()'s text of a Decimal (normalised when integral, else fixed-point), from str() when
    str() is already fixed-point (PostgreSQL numerics: always but for tiny or huge values). A
    fixed-point text is integral when its decimals are all zeros: read from the text, not by
    comparing Decimals (a third of the time of a laboratory table's cells)."""
    text = str(value)
    if "E" in text:
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    whole, point, decimals = text.partition(".")
    if point and not decimals.strip("0"):
        return whole
    return text


def write_csv_table(table: Table, path: Path) -> int:
    """Stream one table to ``path``, chunk by chunk; returns its number of rows."""
    formatters = [column_formatter(c.kind) for c in table.columns]
    count = 0
    with path.open("w", encoding="utf-8", newline="", buffering=1 << 20) as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([c.name for c in table.columns])
        for columns in table.iter_chunks():
            cells = [format_(values) for format_, values in zip(formatters, columns, strict=True)]
            writer.writerows(zip(*cells, strict=True))
            count += len(columns[0]) if columns else 0
    return count


def write_csv(tables: list[Table], out: Path) -> tuple[list[Path], dict[str, int]]:
    """One CSV per table plus the data dictionary; returns the paths and each table's row count."""
    paths = []
    counts = {}
    for table in tables:
        path = out / f"{table.name}.csv"
        counts[table.name] = write_csv_table(table, path)
        paths.append(path)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "dataset",
            "variable",
            "label",
            "type",
            "unit",
            "code_list",
            "derived_from",
            "xpt_dataset",
            "xpt_variable",
            "stata_variable",
            "stata_codes",
            "note",
            "missing_codes",
            "not_applicable_when",
        ]
    )

    mapping = stat_names(tables)
    for table in tables:
        dataset, xpt_names, dta_names = mapping[table.name]
        rules = column_rules(table)
        for c, xpt_name, dta_name, rule in zip(table.columns, xpt_names, dta_names, rules, strict=True):
            codes = "; ".join(f"{v}={label}" for v, label in c.codes)
            numeric = c.kind in ("integer", "float", "boolean")
            stata = "" if numeric or not c.codes else "; ".join(f"{n}={v}" for v, n in dta_codes(c).items())
            note = (
                ""
                if numeric or c.kind in ("date", "datetime")
                else f"XPT keeps the first {statfiles.XPT_MAX_BYTES} bytes"
            )
            if c.kind == "datetime":
                note = "UTC"
            writer.writerow(
                [
                    table.name,
                    c.name,
                    c.label,
                    c.kind,
                    c.unit,
                    codes,
                    c.derived_from,
                    dataset,
                    xpt_name,
                    dta_name,
                    stata,
                    note,
                    "; ".join(f"{code.odm}={code.key}" for code in rule.codes) if rule else "",
                    rule.why if rule else "",
                ]
            )
    path = out / "data_dictionary.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    paths.append(path)
    # The missing-data codes once, with how each format holds them (reports.missing).
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["code", "key", "label", "spss_user_missing", "stata_extended_missing", "sas_special_missing", "odm_flag_value"]
    )
    for code in MISSING_CODES:
        writer.writerow([code.odm, code.key, code.label, code.spss, f".{code.stata}", f".{code.sas}", code.odm])
    path = out / "missing_codes.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    paths.append(path)
    return paths, counts


# SAS transport v5 limits names to 8 characters: a fixed, documented mapping per table and column.
def short_name(name: str, taken: set[str], length: int = 8) -> str:
    """A unique name of at most ``length`` characters (XPT v5: 8 upper-case; Stata: 32)."""
    base = (re.sub(r"[^A-Za-z0-9]", "", name).upper() if length == 8 else name)[:length] or "V"
    candidate, n = base, 1
    while candidate in taken:
        suffix = str(n)
        candidate, n = base[: length - len(suffix)] + suffix, n + 1
    taken.add(candidate)
    return candidate


STATA_NAME_LENGTH = 30


def stat_names(tables: list[Table]) -> dict[str, tuple[str, list[str], list[str]]]:
    """Table name → (XPT dataset name, XPT variable names, Stata variable names): one mapping used
    by the writers and written into the data dictionary."""
    mapping = {}
    datasets: set[str] = set()
    for table in tables:
        xpt_taken: set[str] = set()
        dta_taken: set[str] = set()
        mapping[table.name] = (
            short_name(table.name, datasets),
            [short_name(c.name, xpt_taken, 8) for c in table.columns],
            # Stata allows 32 characters, but pyreadstat names a variable's value-label set after it
            # and refuses a 32-character one: 30 leaves room.
            [short_name(c.name, dta_taken, STATA_NAME_LENGTH) for c in table.columns],
        )
    return mapping


# XPT v5 holds at most 200 bytes per character value; longer free text is cut there (at a UTF-8
# character boundary) and the dictionary says so: the full text is in the CSV and the ODM.
# The SAS, SPSS and Stata files are written by reports.statfiles (streaming writers by hand).
_cut = statfiles.cut
dta_codes = statfiles.dta_codes


def write_stat_table(
    table: Table, out: Path, formats: list[str], when: dt.datetime, label_prefix: str = "", mapping=None
) -> tuple[list[Path], int]:
    """Every format of ``formats`` (xpt, sav, dta) of one table from one read of its rows (a spool
    of chunks, reports.statfiles); returns the paths and the number of rows."""
    mapping = mapping or stat_names([table])
    dataset, xpt_names, dta_names = mapping[table.name]
    label = label_prefix + table.label
    paths = []
    sp = statfiles.spool(table, plain_formatter)
    try:
        for fmt in formats:
            if fmt == "xpt":
                path = out / f"{dataset.lower()}.xpt"
                statfiles.write_xpt(sp, path, dataset=dataset, names=xpt_names, label=label, when=when)
            elif fmt == "sav":
                path = out / f"{table.name}.sav"
                statfiles.write_sav(sp, path, names=[c.name for c in table.columns], label=label, when=when)
            else:
                path = out / f"{table.name}.dta"
                statfiles.write_dta(sp, path, names=dta_names, label=label, when=when)
            paths.append(path)
    finally:
        sp.close()
    return paths, sp.count


def write_stat(
    tables: list[Table], out: Path, fmt: str, when: dt.datetime, label_prefix: str = "", mapping=None
) -> list[Path]:
    """One file of ``fmt`` per table (``mapping``: the names of the whole export, from stat_names)."""
    mapping = mapping or stat_names(tables)
    paths = []
    for table in tables:
        paths += write_stat_table(table, out, [fmt], when, label_prefix, mapping)[0]
    return paths


def _build(*, formats: list[str], out: Path, lock, when: dt.datetime, prefix: str = "") -> tuple[list[Path], dict]:
    """Write the data files of ``formats`` into ``out`` from the database as it stands now."""
    tables = collect(lock=lock)
    files: list[Path] = []
    counts: dict[str, int] = {}
    if "csv" in formats:
        # Import cycle: reports.readers imports Table, dta_codes and stat_names from this module.
        from .readers import write_readers

        written, counts = write_csv(tables, out)
        files += written
        files += write_readers(tables, out, prefix)
    if "odm" in formats:
        # Import cycle: reports.odm (and its odm_archive) import form_columns and CHUNK from this module.
        from .odm import write_odm

        files.append(write_odm(out / "nelmas-odm.xml", lock=lock, when=when))
    stat_formats = [fmt for fmt in ("xpt", "sav", "dta") if fmt in formats]
    if stat_formats:
        # Table by table, every format from one read of its rows (reports.statfiles spools them in
        # chunks): memory holds one chunk, not a table.
        mapping = stat_names(tables)
        for table in tables:
            written, count = write_stat_table(table, out, stat_formats, when, label_prefix=prefix, mapping=mapping)
            files += written
            counts.setdefault(table.name, count)
    for table in tables:
        if table.name not in counts:
            counts[table.name] = table.count()
    if prefix:
        renamed = []
        for path in files:
            target = path.with_name(prefix + path.name)
            path.rename(target)
            renamed.append(target)
        files = renamed
    return files, counts


def _format_of(name: str) -> str:
    if name == "nelmas-odm.xml":
        return "odm"
    # The R, SAS and Stata readers come with the CSV files they read.
    return {"csv": "csv", "R": "csv", "sas": "csv", "do": "csv", "xpt": "xpt", "sav": "sav", "dta": "dta"}[
        name.rsplit(".", 1)[1]
    ]


def lock_when(lock) -> dt.datetime:
    """The time the lock's files carry in their headers: the hard lock's, else the soft lock's."""
    return (lock.hard_locked_at or lock.locked_at).astimezone(dt.UTC).replace(microsecond=0)


def snapshot_ensure(lock) -> dict[str, int]:
    """Store every format of ``lock``'s export once, while the lock stands; returns the row counts.

    The lock row is locked first so two first exports (or an export and the unlock) do not build it
    twice. Only a standing lock is built from the database: after unlock the data may have changed.
    """
    lock_model = type(lock)
    lock = lock_model.objects.select_for_update().get(pk=lock.pk)
    stored = LockSnapshotFile.objects.filter(lock=lock)
    meta = stored.filter(fmt="meta").first()
    if meta is not None:
        with meta.file.open("rb") as f:
            return json.loads(f.read().decode())
    if lock.unlocked_at is not None:
        raise DomainError(f"{lock} was unlocked before its export was stored: it cannot be rebuilt.")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        files, counts = _build(formats=list(FORMATS), out=out, lock=lock, when=lock_when(lock))
        meta_path = out / "tables.json"
        meta_path.write_text(json.dumps(counts, indent=2, sort_keys=True) + "\n")
        for path in [*files, meta_path]:
            with path.open("rb") as f:
                snapshot = LockSnapshotFile(
                    lock=lock,
                    fmt="meta" if path is meta_path else _format_of(path.name),
                    name=path.name,
                    sha256=_sha(path),
                    size=path.stat().st_size,
                )
                snapshot.file.save(f"lock-{lock.pk}/{path.name}", File(f), save=False)
                snapshot.save()
    return counts


def _copy_snapshot(lock, formats: list[str], out: Path) -> list[Path]:
    files = []
    for snapshot in LockSnapshotFile.objects.filter(lock=lock, fmt__in=formats).order_by("name"):
        target = out / snapshot.name
        with snapshot.file.open("rb") as source, target.open("wb") as f:
            shutil.copyfileobj(source, f, 1 << 20)
        if _sha(target) != snapshot.sha256:
            raise DomainError(f"The stored file {snapshot.name} of {lock} does not match its SHA-256.")
        files.append(target)
    return files


def software_version() -> str:
    """The git commit the EDC runs (EDC_VERSION in a built image, else the checkout's HEAD)."""
    if os.environ.get("EDC_VERSION"):
        return os.environ["EDC_VERSION"]
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        return subprocess.run(  # noqa: S603 - a fixed command, no outside input
            [git, "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


UNLOCKED_PREFIX = "NOT-LOCKED-"


def export_dataset(
    *, formats: list[str], out: Path, actor=None, lock_id: int | None = None, allow_unlocked: bool = False
) -> dict:
    """Write the export of a lock (the standing one unless ``lock_id`` names another) and its manifest.

    A lock's data files come from its stored snapshot, so lock N gives the same bytes after later
    unlocks, edits and locks. Without a lock (``allow_unlocked``) the files are built from the data as
    they stand and every file name and label says NOT LOCKED.
    """
    if lock_id is not None:
        lock = DatasetLock.objects.filter(pk=lock_id).first()
        if lock is None:
            raise DomainError(f"There is no dataset lock {lock_id}.")
    else:
        lock = DatasetLock.current()
    if lock is None and not allow_unlocked:
        raise DomainError("The dataset is not locked: lock it first, or ask for a 'not locked' export.")
    out.mkdir(parents=True, exist_ok=True)
    if lock is not None:
        with transaction.atomic():
            counts = snapshot_ensure(lock)
        files = _copy_snapshot(lock, formats, out)
        when = lock_when(lock)
    else:
        when = timezone.now().astimezone(dt.UTC).replace(microsecond=0)
        files, counts = _build(formats=formats, out=out, lock=None, when=when, prefix=UNLOCKED_PREFIX)
    manifest = {
        "trial": "NELMAS",
        "lock": {
            "id": lock.pk,
            "kind": lock.kind,
            "level": lock.level,
            "locked_at": plain(when, "datetime"),
            "reason": lock.reason,
            "locked_by": lock.locked_by.username,
            "unlocked_at": plain(lock.unlocked_at, "datetime"),
        }
        if lock
        else "NOT LOCKED: for monitoring only, not for analysis",
        "exported_by": actor.username if actor else "local mode (no user named)",
        "exported_at": plain(timezone.now(), "datetime"),
        "software_version": software_version(),
        "pseudonymised": "trial numbers only",
        "tables": counts,
        "files": [{"file": p.name, "sha256": _sha(p), "bytes": p.stat().st_size} for p in sorted(files)],
        "schedule": [v.code for v in schedule.schedule()],
    }
    name = "manifest.json" if lock else UNLOCKED_PREFIX + "manifest.json"
    (out / name).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    audit_event_record(
        kind=AuditEvent.Kind.EXPORTED,
        actor=actor,
        summary=f"Dataset export ({', '.join(formats)}) of {'lock ' + str(lock.pk) if lock else 'unlocked data'}",
        detail={"files": len(files), "lock": lock.pk if lock else None},
    )
    return manifest


def build_export_zip(subject: str, progress, actor=None):
    """Every format of one lock's export (``subject`` "lock-N"; otherwise the standing lock or a
    labelled 'not locked' export) in one zip, rendered in the background and attributed to ``actor``."""
    lock_id = int(subject.removeprefix("lock-")) if re.fullmatch(r"lock-[0-9]+", subject) else None
    progress(5)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        manifest = export_dataset(formats=list(FORMATS), out=out, actor=actor, lock_id=lock_id, allow_unlocked=True)
        progress(80)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out.iterdir()):
                info = zipfile.ZipInfo(path.name, date_time=(2026, 1, 1, 0, 0, 0))
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    label = f"lock-{manifest['lock']['id']}" if isinstance(manifest["lock"], dict) else "NOT-LOCKED"
    return BuiltDocument(filename=f"nelmas-dataset-{label}.zip", pdf=RenderedPdf(content=buffer.getvalue(), pages=0))


# The background renderer passes the requesting user to builders that attribute their output.
build_export_zip.wants_actor = True


def export_subject(lock) -> str:
    """The GeneratedFile subject naming what an export request is of: the lock standing when asked."""
    return f"lock-{lock.pk}" if lock is not None else "unlocked"
