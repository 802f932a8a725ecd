"""The clinical data of the ODM archive as its item-level audit trail (CDISC ODM 1.3.2).

The ODM file is ``FileType="Transactional"`` with ``Archival="Yes"``: ODM 1.3.2 §2.10 ("Single
files and collections") and the FileType definition say a Snapshot holds one instruction per data
point and no history, and an archival file holds every transaction with all its AuditRecord and
Signature information. So every value change in the history tables (django-simple-history) is one
``ItemData`` transaction carrying one ``AuditRecord``:

- ``TransactionType="Insert"`` the first time the item gets a value, ``"Update"`` for each later
  change; a value cleared is an ``Update`` with ``IsNull="Yes"`` (ODM 1.3.2 ItemData/@IsNull).
- The old value superseded is the previous ItemData of the same item in the same form: ODM 1.3.2's
  AuditRecord has no "old value" element (UserRef, LocationRef, DateTimeStamp, ReasonForChange,
  SourceID), and the order of transactions for one data point is their order in the file.
- ``SourceID`` names the history row (``<history table>:<history id>``), so an inspector can find
  the row the transaction was read from.

Besides the CRFs (each with its form status as the item ``form_status``), the subject record
(status, dates, stratification factors), the randomisation (arm, stratum, time) and every adverse
event and SAE report are forms of the event ``SE.SUBJECT`` (ItemGroups, not a vendor extension).
Forms recorded as not done and missed visits carry the missing-data code as an ``Annotation`` with
a ``Flag`` whose ``FlagValue`` is from the code list ``CL.MISSING`` (reports.missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from django.contrib.auth import get_user_model
from django.db import models

from crf.dictionary import field_kind
from crf.models import FormStatus, Visit
from crf.registry import FORMS
from patients.models import Patient
from randomisation.models import Allocation
from safety.models import AdverseEvent, SaeReport

from .dataset import Column, form_columns, plain_formatter

SUBJECT_EVENT = "SUBJECT"  # the subject-level record: patient, randomisation, AEs, SAE reports
SUBJECT_SEQUENCE = -1  # written before the visits


@dataclass
class Source:
    """One kind of record written as an ODM form from its history table."""

    code: str  # F.<code>, IG.<code>, I.<code>.<item>
    title: str
    model: type
    patient: str  # path from the record to its patient ("" for the patient itself)
    columns: list[Column]
    paths: list[str]  # the history row's value of each column
    repeating: bool
    from_visits: bool = False  # a CRF (or the visit itself): the event is the visit
    event_paths: tuple[str, str] = ("visit__code", "visit__sequence")
    mandatory: frozenset = field(default_factory=frozenset)

    @cached_property
    def history(self):
        return self.model.history.model

    def history_rows(self):
        """Every history row, in subject order, then the form's visit, id, and time of the change:
        (patient id, record id, event code, event order, when, username, reason, history id, *values)."""
        to_patient = f"{self.patient}__" if self.patient else ""
        patient_id = f"{self.patient}_id" if self.patient else "id"
        if self.from_visits:
            code, sequence = self.event_paths
            query = self.history.objects.annotate(_event=models.F(code), _order=models.F(sequence))
            order = [sequence]
        else:
            query = self.history.objects.annotate(
                _event=models.Value(SUBJECT_EVENT, models.CharField()),
                _order=models.Value(SUBJECT_SEQUENCE, models.IntegerField()),
            )
            order = []
        # Columns that are keys of a derived JSON field: the same expression on the history row.
        query = query.annotate(**{c.name: c.expression for c in self.columns if c.expression is not None})
        return query.order_by(f"{to_patient}trial_number", *order, "id", "history_date", "history_id").values_list(
            patient_id,
            "id",
            "_event",
            "_order",
            "history_date",
            "history_user__username",
            "history_change_reason",
            "history_id",
            *self.paths,
        )


def _user_path(f: models.Field) -> bool:
    return isinstance(f, models.ForeignKey) and f.related_model is get_user_model()


def _columns_of(model, names: list[str]) -> tuple[list[Column], list[str]]:
    """Columns and history paths of the named fields: users by username, other records by id."""
    columns, paths = [], []
    for name in names:
        f = model._meta.get_field(name)
        if _user_path(f):
            columns.append(Column(name, f"{f.verbose_name} (user)", "text"))
            paths.append(f"{name}__username")
        elif isinstance(f, models.ForeignKey):
            columns.append(Column(f"{name}_id", f"{f.verbose_name} (id)", "integer"))
            paths.append(f.attname)
        else:
            codes = tuple((str(v), str(label)) for v, label in f.flatchoices if v not in ("", None))
            unit = str(f.help_text) if field_kind(f) in ("float", "integer") and f.help_text else ""
            columns.append(Column(name, str(f.verbose_name), field_kind(f), unit, codes))
            paths.append(name)
    return columns, paths


# The subject record as the statistician and the inspector need it; never the initials (the export
# is pseudonymised: trial numbers only).
PATIENT_FIELDS = [
    "year_of_birth",
    "sex",
    "liver_resection_date",
    "primary_resection_date",
    "status",
    "primary_site_group",
    "who_grade",
    "resection_margin",
    "registered_by",
]
ALLOCATION_FIELDS = ["arm", "stratum", "randomised_at", "randomised_by", "late_reason"]
VISIT_FIELDS = [
    "target_date",
    "window_start",
    "window_end",
    "done_on",
    "missed_reason",
    "not_applicable_reason",
    "unscheduled_reason",
]


def audited_fields(model) -> list[str]:
    """Every field of an AE or SAE report but bookkeeping, the patient link and the JSON copies of
    the report as submitted (their content is the report's own fields, audited one by one)."""
    bookkeeping = getattr(model, "BOOKKEEPING_FIELDS", frozenset({"id"}))
    return [
        f.name
        for f in model._meta.concrete_fields
        if f.name not in bookkeeping and f.name != "patient" and not isinstance(f, models.JSONField)
    ]


FORM_STATUS = Column(
    "form_status",
    "Form status",
    "text",
    codes=tuple((str(v), str(label)) for v, label in FormStatus.choices),
)


def sources() -> list[Source]:
    """The subject-level records first, then every CRF in form-code order."""
    out = []
    for code, title, model, patient, names, repeating in (
        ("subject", "Subject: status, dates and stratification factors", Patient, "", PATIENT_FIELDS, False),
        ("randomisation", "Randomisation", Allocation, "patient", ALLOCATION_FIELDS, False),
        ("adverse_event", "Adverse event", AdverseEvent, "patient", audited_fields(AdverseEvent), True),
        ("sae_report", "SAE report", SaeReport, "adverse_event__patient", audited_fields(SaeReport), True),
    ):
        columns, paths = _columns_of(model, names)
        out.append(Source(code, title, model, patient, columns, paths, repeating))
    # The visit itself: its dates and why it was missed or not applicable, first in its event.
    columns, paths = _columns_of(Visit, VISIT_FIELDS)
    out.append(
        Source(
            "visit",
            "Visit: dates and status",
            Visit,
            "patient",
            columns,
            paths,
            False,
            from_visits=True,
            event_paths=("code", "sequence"),
        )
    )
    for code in sorted(FORMS):
        model = FORMS[code]
        columns = [*form_columns(model), FORM_STATUS]
        out.append(
            Source(
                code,
                str(model.FORM_TITLE),
                model,
                "patient",
                columns,
                [c.name for c in columns[:-1]] + ["status"],
                model.REPEATING,
                from_visits=True,
                mandatory=frozenset(model.REQUIRED_FOR_COMPLETE),
            )
        )
    return out


def grouped(rows):
    """History rows grouped by record: (patient id, record id, event, order, [rows]) in file order."""
    current = None
    for row in rows:
        if current is None or row[1] != current[1]:
            if current is not None:
                yield current
            current = (row[0], row[1], row[2], row[3], [row])
        else:
            current[4].append(row)
    if current is not None:
        yield current


def _value_formatter(column: Column):
    to_text = plain_formatter(column.kind)
    if column.kind == "boolean":
        words = {"1": "true", "0": "false", "": ""}
        return lambda v: words[to_text(v)]
    return to_text


def changes(history_rows):
    """(row, column index, new value or None) for each value that differs from the one before it in
    the record's history (the first row: each value given). The rule the archive's transactions
    follow: one per change, compared as stored (None and "" both mean no value)."""
    previous = None
    for row in history_rows:
        values = row[8:]
        if previous is None:
            previous = (None,) * len(values)
        # Inline, no helper call: this loop runs once per stored value of the whole history (the
        # profile of a 100-patient archive: 400,000 times).
        for index, (value, before) in enumerate(zip(values, previous, strict=True)):
            if value == before:
                continue
            empty = value is None or value == ""
            if empty and (before is None or before == ""):
                continue
            yield row, index, None if empty else value
        previous = values


# A coded value the site recorded as "unknown" (AE and SAE outcome) carries the missing-data code UNK
# of CL.MISSING (reports.missing) beside its value, as the SPSS and Stata files do.
UNKNOWN_VALUE = "unknown"
_UNKNOWN_FLAG = (
    '              <Annotation SeqNum="1">\n'
    "                <Comment>Recorded as unknown</Comment>\n"
    "                <Flag>\n"
    '                  <FlagValue CodeListOID="CL.MISSING">UNK</FlagValue>\n'
    "                </Flag>\n"
    "              </Annotation>\n"
)


def item_heads(source: Source, xml_attr) -> list[tuple[str, object, bool]]:
    """Per column: the ItemData start tag's text up to the transaction type, the value's text, and
    whether the code list has the value "unknown"."""
    return [
        (
            f'            <ItemData ItemOID="{xml_attr(f"I.{source.code}.{c.name}")}"',
            _value_formatter(c),
            any(value == UNKNOWN_VALUE for value, _label in c.codes),
        )
        for c in source.columns
    ]


def _audit_record(row, location, xml_attr, xml_text, iso, history_table) -> str:
    user = "U.system" if row[5] is None else xml_attr(f"U.{row[5]}")
    reason = f"                <ReasonForChange>{xml_text(row[6])}</ReasonForChange>\n" if row[6] else ""
    return (
        "              <AuditRecord>\n"
        f'                <UserRef UserOID="{user}"/>\n'
        f'                <LocationRef LocationOID="{location}"/>\n'
        f"                <DateTimeStamp>{iso(row[4])}</DateTimeStamp>\n"
        f"{reason}"
        f"                <SourceID>{xml_text(f'{history_table}:{row[7]}')}</SourceID>\n"
        "              </AuditRecord>\n"
    )


def form_xml(source, heads, record, location, *, xml_attr, xml_text, iso, history_table) -> list[str]:
    """The FormData of one record: one ItemData transaction with its AuditRecord per value change,
    as lxml pretty-prints it at its depth (the form at level 4)."""
    _patient_id, record_id, _event, _order, rows = record
    form = xml_attr(f"F.{source.code}")
    out = [
        f'        <FormData FormOID="{form}" FormRepeatKey="{record_id}">\n'
        if source.repeating
        else f'        <FormData FormOID="{form}">\n'
    ]
    group = f'          <ItemGroupData ItemGroupOID="{xml_attr(f"IG.{source.code}")}"'
    items = []
    seen = set()
    audited_row, audit = None, ""
    for row, index, value in changes(rows):
        head, to_text, has_unknown = heads[index]
        if value is None:
            kind, tail = "Update", ' IsNull="Yes">\n'
        else:
            kind = "Update" if index in seen else "Insert"
            tail = f' Value="{xml_attr(to_text(value))}">\n'
        seen.add(index)
        if row is not audited_row:
            # Every value changed by one history row has the same AuditRecord (who, where, when, why,
            # which row): written once per row, not once per value.
            audited_row, audit = row, _audit_record(row, location, xml_attr, xml_text, iso, history_table)
        items.append(f'{head} TransactionType="{kind}"{tail}')
        items.append(audit)
        if has_unknown and value == UNKNOWN_VALUE:
            items.append(_UNKNOWN_FLAG)
        items.append("            </ItemData>\n")
    if items:
        out.append(group + ">\n")
        out += items
        out.append("          </ItemGroupData>\n")
    else:  # history rows that changed no value (none are written so today): an empty group
        out.append(group + ' TransactionType="Insert"/>\n')
    out.append("        </FormData>\n")
    return out
