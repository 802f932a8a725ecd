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
import io
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path

from django.db import models
from django.db.models import F, OuterRef, Subquery, Value
from django.utils import timezone

from accounts.exports import _FORMULA_START
from crf import schedule
from crf.models import DatasetLock, Recurrence
from crf.registry import FORMS
from patients.models import Patient

FORMATS = ("csv", "odm", "xpt", "sav", "dta")
CONTEXT_COLUMNS = ["trial_number", "site", "visit", "entry", "form_status", "form_version"]


@dataclass
class Column:
    name: str
    label: str
    kind: str  # text, integer, float, date, datetime, time, boolean
    unit: str = ""
    codes: tuple[tuple[str, str], ...] = ()
    derived_from: str = ""


def _kind(field: models.Field) -> str:
    if isinstance(field, models.BooleanField):
        return "boolean"
    if isinstance(field, models.DateTimeField):
        return "datetime"
    if isinstance(field, models.DateField):
        return "date"
    if isinstance(field, models.TimeField):
        return "time"
    if isinstance(field, models.DecimalField):
        return "float"
    if isinstance(field, models.IntegerField):
        return "integer"
    return "text"


def form_columns(model) -> list[Column]:
    """The form's entered fields, then the fields the system derives from them (crf.derivations)."""
    columns = []
    derived = list(getattr(model, "DERIVED_FIELDS", []))
    for name in model.data_field_names() + derived:
        field = model._meta.get_field(name)
        kind = _kind(field)
        unit = str(field.help_text) if kind in ("float", "integer") and field.help_text else ""
        codes = tuple((str(v), str(label)) for v, label in field.flatchoices if v not in ("", None))
        rule = "derived by the system (crf.derivations, crf.ctcae)" if name in derived else ""
        columns.append(Column(name, str(field.verbose_name), kind, unit, codes, rule))
    return columns


def plain(value, kind: str) -> str:
    """The value as text in the export (ISO dates, UTC times, 1/0 booleans, '' for missing)."""
    if value is None or value == "":
        return ""
    if kind == "boolean":
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    return str(value)


# Rows are fetched as tuples (values_list) through a server-side cursor in chunks of this many, so
# memory stays bounded whatever the number of patients.
CHUNK = 2000


@dataclass
class Table:
    """One table of the export. ``query`` gives tuples in column order (context columns first)."""

    name: str
    label: str
    columns: list[Column]
    query: models.QuerySet

    def iter_rows(self):
        return self.query.iterator(chunk_size=CHUNK)

    @cached_property
    def rows(self) -> list[tuple]:
        """Every row in memory: only for pyreadstat, which writes whole data frames (XPT, SAV, DTA)."""
        return list(self.iter_rows())


def collect(*, lock: DatasetLock | None) -> list[Table]:
    """Every form as a table, plus patients and adverse events, in a fixed order (queries, not rows)."""
    from safety.models import AdverseEvent

    context = [
        Column("trial_number", "Trial number", "text"),
        Column("site", "Site", "text"),
        Column("visit", "Visit", "text"),
        Column("entry", "Entry of a repeating form", "integer"),
        Column("form_status", "Form status", "text"),
        Column("form_version", "Form version", "integer"),
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
                Column("sex", "Sex", "text", codes=(("F", "Female"), ("M", "Male"))),
                Column("year_of_birth", "Year of birth", "integer"),
                Column("status", "Status", "text"),
                Column("liver_resection_date", "Date of liver resection", "date"),
                Column("arm", "Randomised arm", "text", codes=(("A", "Best supportive care"), ("B", "Lutathera"))),
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
    for code in sorted(FORMS):
        model = FORMS[code]
        columns = form_columns(model)
        # The entry number is the row's id for repeating forms, empty otherwise.
        forms = (
            model.objects.annotate(_entry=F("pk") if model.REPEATING else Value(None, models.IntegerField()))
            .order_by("patient__trial_number", "visit__sequence", "pk")
            .values_list(
                "patient__trial_number",
                "patient__site__code",
                "visit__code",
                "_entry",
                "status",
                "version",
                *(c.name for c in columns),
            )
        )
        tables.append(Table(code, str(model.FORM_TITLE), context + columns, forms))
    ae_fields = [
        f for f in AdverseEvent._meta.concrete_fields if f.name not in AdverseEvent.BOOKKEEPING_FIELDS | {"patient"}
    ]
    ae_columns = [
        Column(f.name, str(f.verbose_name), _kind(f), codes=tuple((str(v), str(lbl)) for v, lbl in f.flatchoices))
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
    return tables


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


def write_csv_table(table: Table, path: Path) -> int:
    """Stream one table to ``path``; returns its number of rows."""
    formatters = [cell_formatter(c.kind) for c in table.columns]
    count = 0
    with path.open("w", encoding="utf-8", newline="", buffering=1 << 20) as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([c.name for c in table.columns])
        for row in table.iter_rows():
            writer.writerow(list(map(_call, formatters, row)))
            count += 1
    return count


def _call(function, value):
    return function(value)


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
    writer.writerow(["dataset", "variable", "label", "type", "unit", "code_list", "derived_from"])
    for table in tables:
        for c in table.columns:
            codes = "; ".join(f"{v}={label}" for v, label in c.codes)
            writer.writerow([table.name, c.name, c.label, c.kind, c.unit, codes, c.derived_from])
    path = out / "data_dictionary.csv"
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


def _frame(table: Table, *, length: int):
    import pandas as pd

    taken: set[str] = set()
    names = [short_name(c.name, taken, length) for c in table.columns]
    data = {}
    for index, (column, name) in enumerate(zip(table.columns, names, strict=True)):
        values = [row[index] for row in table.rows]
        if column.kind in ("integer", "float", "boolean"):
            data[name] = pd.Series([None if v is None or v == "" else float(v) for v in values], dtype="float64")
        else:
            data[name] = pd.Series([plain(v, column.kind) for v in values], dtype="object")
    labels = [c.label[:40] for c in table.columns]
    return pd.DataFrame(data, columns=names), names, labels


def write_stat(tables: list[Table], out: Path, fmt: str, when: dt.datetime) -> list[Path]:
    import pyreadstat

    paths = []
    taken: set[str] = set()
    for table in tables:
        if fmt == "xpt":
            frame, _names, labels = _frame(table, length=8)
            dataset = short_name(table.name, taken)
            path = out / f"{dataset.lower()}.xpt"
            pyreadstat.write_xport(
                frame,
                str(path),
                file_label=table.label[:40],
                column_labels=labels,
                table_name=dataset,
                file_format_version=5,
            )
            # XPT headers hold 16-character stamps such as 24NOV26:16:30:01.
            _stamp_xpt(path, when)
        elif fmt == "sav":
            frame, _names, labels = _frame(table, length=64)
            path = out / f"{table.name}.sav"
            pyreadstat.write_sav(frame, str(path), file_label=table.label, column_labels=labels)
            _stamp_sav(path, when)
        else:
            frame, _names, labels = _frame(table, length=32)
            path = out / f"{table.name}.dta"
            pyreadstat.write_dta(frame, str(path), file_label=table.label[:80], column_labels=labels)
            _stamp_dta(path, when)
        paths.append(path)
    return paths


_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"


def _replace_in_header(path: Path, pattern: bytes, replacement: bytes, limit: int = 4096) -> None:
    data = path.read_bytes()
    header = re.sub(pattern, replacement, data[:limit])
    path.write_bytes(header + data[limit:])


def _stamp_xpt(path: Path, when: dt.datetime) -> None:
    stamp = when.strftime("%d%b%y:%H:%M:%S").upper().encode()
    _replace_in_header(path, rb"\d{2}(?:" + _MONTHS.encode() + rb")\d{2}:\d{2}:\d{2}:\d{2}", stamp)


def _stamp_sav(path: Path, when: dt.datetime) -> None:
    # SAV header: creation date "dd Mon yy" (9 bytes) then time "hh:mm:ss" (8 bytes).
    date = when.strftime("%d %b %y").encode()
    time_ = when.strftime("%H:%M:%S").encode()
    _replace_in_header(path, rb"\d{2} [A-Z][a-z]{2} \d{2}\d{2}:\d{2}:\d{2}", date + time_, limit=256)


def _stamp_dta(path: Path, when: dt.datetime) -> None:
    stamp = when.strftime("%d %b %Y %H:%M").encode()
    _replace_in_header(path, rb"\d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}", stamp, limit=512)


def export_dataset(*, formats: list[str], out: Path, actor=None, allow_unlocked: bool = False) -> dict:
    """Write the export of the current lock (or a labelled 'not locked' one) and its manifest."""
    from accounts.audit import audit_event_record
    from accounts.errors import DomainError
    from accounts.models import AuditEvent

    lock = DatasetLock.current()
    if lock is None and not allow_unlocked:
        raise DomainError("The dataset is not locked: lock it first, or ask for a 'not locked' export.")
    out.mkdir(parents=True, exist_ok=True)
    when = (lock.hard_locked_at or lock.locked_at) if lock else timezone.now().replace(microsecond=0)
    when = when.astimezone(dt.UTC).replace(microsecond=0)
    tables = collect(lock=lock)
    files: list[Path] = []
    counts: dict[str, int] = {}
    if "csv" in formats:
        written, counts = write_csv(tables, out)
        files += written
    if "odm" in formats:
        from .odm import write_odm

        files.append(write_odm(out / "nelmas-odm.xml", lock=lock, when=when))
    for fmt in ("xpt", "sav", "dta"):
        if fmt in formats:
            files += write_stat(tables, out, fmt, when)
    for table in tables:
        if table.name not in counts:
            counts[table.name] = len(table.rows) if "rows" in table.__dict__ else table.query.count()
    manifest = {
        "trial": "NELMAS",
        "lock": {"id": lock.pk, "kind": lock.kind, "level": lock.level, "locked_at": plain(when, "datetime")}
        if lock
        else "NOT LOCKED: for monitoring only, not for analysis",
        "exported_by": actor.username if actor else "command line",
        "exported_at": plain(timezone.now(), "datetime"),
        "pseudonymised": "trial numbers only",
        "tables": counts,
        "files": [{"file": p.name, "sha256": _sha(p), "bytes": p.stat().st_size} for p in sorted(files)],
        "schedule": [v.code for v in schedule.schedule()],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    audit_event_record(
        kind=AuditEvent.Kind.EXPORTED,
        actor=actor,
        summary=f"Dataset export ({', '.join(formats)}) of {'lock ' + str(lock.pk) if lock else 'unlocked data'}",
        detail={"files": len(files), "lock": lock.pk if lock else None},
    )
    return manifest


def build_export_zip(subject: str, progress):
    """Every format of the current export in one zip, rendered in the background."""
    import tempfile
    import zipfile

    from .documents import RenderedPdf
    from .services import BuiltDocument

    progress(5)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        manifest = export_dataset(formats=list(FORMATS), out=out, allow_unlocked=True)
        progress(80)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out.iterdir()):
                info = zipfile.ZipInfo(path.name, date_time=(2026, 1, 1, 0, 0, 0))
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    label = f"lock-{manifest['lock']['id']}" if isinstance(manifest["lock"], dict) else "NOT-LOCKED"
    return BuiltDocument(filename=f"nelmas-dataset-{label}.zip", pdf=RenderedPdf(content=buffer.getvalue(), pages=0))
