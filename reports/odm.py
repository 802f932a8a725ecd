"""CDISC ODM 1.3.2 export: metadata (events, forms, item groups, items, code lists, units) and
clinical data with audit records and signatures. Validated against the official schema in tests."""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path

from django.db.models import CharField, F, Max, OuterRef, Q, Subquery, Window
from django.db.models.functions import Cast, RowNumber
from lxml import etree

from accounts.models import Signature, User
from crf import schedule
from crf.models import Casebook
from crf.registry import FORMS
from patients.models import Patient
from sites.models import Site

from .dataset import CHUNK, form_columns, plain_formatter

NS = "http://www.cdisc.org/ns/odm/v1.3"
STUDY = "NELMAS"
MDV = "MDV.NELMAS.1"
DATATYPES = {
    "text": "text",
    "integer": "integer",
    "float": "float",
    "date": "date",
    "datetime": "datetime",
    "time": "time",
    "boolean": "boolean",
}
SCHEMA = Path(__file__).resolve().parent / "schemas" / "cdisc-odm-1.3.2" / "ODM1-3-2.xsd"


def _e(parent, tag, text=None, **attrs):
    element = etree.SubElement(parent, f"{{{NS}}}{tag}", {k: str(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = str(text)
    return element


def _translated(parent, tag, text):
    holder = _e(parent, tag)
    _e(holder, "TranslatedText", text, **{"{http://www.w3.org/XML/1998/namespace}lang": "en"})
    return holder


def event_oid(code: str) -> str:
    return f"SE.{code}"


def _events() -> list[tuple[str, str, list[str], bool]]:
    """(code, label, forms, repeating) for the scheduled visits, the log and unscheduled visits."""
    rows = [(v.code, v.label, list(v.forms), False) for v in schedule.schedule()]
    rows.append((schedule.LOG.code, schedule.LOG.label, list(schedule.LOG.forms), False))
    rows.append(("UNS", "Unscheduled visit", ["laboratory", "follow_up"], True))
    return rows


def _metadata(study, columns_of):
    variables = _e(study, "GlobalVariables")
    _e(variables, "StudyName", STUDY)
    _e(variables, "StudyDescription", "177Lu-DOTATATE after resection of neuroendocrine liver metastases")
    _e(variables, "ProtocolName", STUDY)
    units = {}
    for model in FORMS.values():
        for column in columns_of[model]:
            if column.unit:
                units.setdefault(column.unit, f"MU.{len(units) + 1}")
    if units:
        basic = _e(study, "BasicDefinitions")
        for unit, oid in units.items():
            mu = _e(basic, "MeasurementUnit", OID=oid, Name=unit)
            _translated(mu, "Symbol", unit)
    mdv = _e(study, "MetaDataVersion", OID=MDV, Name="NELMAS CRFs")
    protocol = _e(mdv, "Protocol")
    events = _events()
    for order, (code, _label, _forms, _rep) in enumerate(events, start=1):
        _e(protocol, "StudyEventRef", StudyEventOID=event_oid(code), OrderNumber=order, Mandatory="No")
    for code, label, forms, repeating in events:
        event = _e(
            mdv,
            "StudyEventDef",
            OID=event_oid(code),
            Name=label,
            Repeating="Yes" if repeating else "No",
            Type="Unscheduled" if repeating or code == "LOG" else "Scheduled",
        )
        for order, form_code in enumerate(forms, start=1):
            _e(event, "FormRef", FormOID=f"F.{form_code}", OrderNumber=order, Mandatory="No")
    code_lists = []
    for form_code in sorted(FORMS):
        model = FORMS[form_code]
        form = _e(
            mdv,
            "FormDef",
            OID=f"F.{form_code}",
            Name=str(model.FORM_TITLE),
            Repeating="Yes" if model.REPEATING else "No",
        )
        _e(form, "ItemGroupRef", ItemGroupOID=f"IG.{form_code}", Mandatory="Yes")
    for form_code in sorted(FORMS):
        model = FORMS[form_code]
        group = _e(mdv, "ItemGroupDef", OID=f"IG.{form_code}", Name=str(model.FORM_TITLE), Repeating="No")
        for order, column in enumerate(columns_of[model], start=1):
            _e(
                group,
                "ItemRef",
                ItemOID=f"I.{form_code}.{column.name}",
                OrderNumber=order,
                Mandatory="Yes" if column.name in model.REQUIRED_FOR_COMPLETE else "No",
            )
    for form_code in sorted(FORMS):
        model = FORMS[form_code]
        for column in columns_of[model]:
            item = _e(
                mdv, "ItemDef", OID=f"I.{form_code}.{column.name}", Name=column.name, DataType=DATATYPES[column.kind]
            )
            _translated(item, "Question", column.label)
            if column.unit:
                _e(item, "MeasurementUnitRef", MeasurementUnitOID=units[column.unit])
            if column.codes:
                oid = f"CL.{form_code}.{column.name}"
                _e(item, "CodeListRef", CodeListOID=oid)
                code_lists.append((oid, column))
    for oid, column in code_lists:
        code_list = _e(mdv, "CodeList", OID=oid, Name=column.label, DataType="text")
        for value, label in column.codes:
            entry = _e(code_list, "CodeListItem", CodedValue=value)
            _translated(entry, "Decode", label)
    return units


def _iso(value: dt.datetime) -> str:
    if value.tzinfo is dt.UTC and value.year >= 1000:  # as the database gives it: the fast way, same text
        return value.isoformat(timespec="seconds")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _admin(odm, users, sites, signature_meanings):
    admin = _e(odm, "AdminData", StudyOID=STUDY)
    for user in users:
        element = _e(admin, "User", OID=f"U.{user.username}")
        _e(element, "FullName", user.get_full_name())
    for site in sites:
        location = _e(admin, "Location", OID=f"LOC.{site.code}", Name=site.name, LocationType="Site")
        _e(
            location,
            "MetaDataVersionRef",
            StudyOID=STUDY,
            MetaDataVersionOID=MDV,
            EffectiveDate=(site.created_at.date() if site.created_at else dt.date(2026, 1, 1)).isoformat(),
        )
    for oid, meaning in signature_meanings.items():
        definition = _e(admin, "SignatureDef", OID=oid, Methodology="Electronic")
        _e(definition, "Meaning", meaning)
        _e(definition, "LegalReason", "21 CFR Part 11 electronic signature: password re-entry by the signer")


def _audit(parent, record, site_code):
    user = getattr(record, "history_user", None)
    audit = _e(parent, "AuditRecord")
    _e(audit, "UserRef", UserOID=f"U.{user.username}" if user else "U.system")
    _e(audit, "LocationRef", LocationOID=f"LOC.{site_code}")
    _e(audit, "DateTimeStamp", _iso(record.history_date))
    if record.history_change_reason:
        _e(audit, "ReasonForChange", record.history_change_reason)


_MARK = "NELMAS-SUBJECTS"


def _latest_history(model):
    """The newest history record of each form (the last by date, then id): its audit record."""
    return _history_model(model).objects.filter(id=OuterRef("pk")).order_by("-history_date", "-history_id")


@functools.cache
def _history_model(model):
    """The history model of a form: django-simple-history builds a new manager class on every
    ``model.history`` access (about a millisecond each), which the export did 30 times."""
    return model.history.model


def _newest_histories(model):
    """The newest history record of each existing form (the last by date, then id), in one pass over
    the history table with a window function: the same records as _latest_history() gives form by
    form, which the users of the audit records took half a second to look up at a thousand patients.
    (The form filter drops whole partitions, so it does not change which record is the newest.)"""
    newest_first = [F("history_date").desc(), F("history_id").desc()]
    return (
        _history_model(model)
        .objects.filter(id__in=model.objects.values("pk"))
        .annotate(_rank=Window(RowNumber(), partition_by=[F("id")], order_by=newest_first))
        .filter(_rank=1)
    )


def _form_rows(model, columns):
    """The forms of one CRF as tuples, in patient order, with their newest history record."""
    latest = _latest_history(model)
    return (
        model.objects.annotate(
            _h_date=Subquery(latest.values("history_date")[:1]),
            _h_user=Subquery(latest.values("history_user__username")[:1]),
            _h_reason=Subquery(latest.values("history_change_reason")[:1]),
        )
        .order_by("patient__trial_number", "visit__sequence", "pk")
        .values_list(
            "patient_id",
            "pk",
            "visit__code",
            "visit__sequence",
            "_h_date",
            "_h_user",
            "_h_reason",
            *(c.name for c in columns),
        )
    )


def _subject_rows(valid_signatures):
    """Patients as tuples in trial-number order, with the latest valid signature of their casebook."""
    newest = Subquery(
        valid_signatures.filter(object_id=Cast(OuterRef("casebook__pk"), CharField()))
        .order_by("-signed_at")[:1]
        .values("pk")
    )
    signature_of = Signature.objects.filter(pk=OuterRef("_sig"))
    return (
        Patient.objects.annotate(_sig=newest)
        .annotate(
            _sig_user=Subquery(signature_of.values("signer__username")),
            _sig_meaning=Subquery(signature_of.values("meaning")),
            _sig_at=Subquery(signature_of.values("signed_at")),
        )
        .order_by("trial_number")
        .values_list("pk", "trial_number", "site__code", "_sig_user", "_sig_meaning", "_sig_at")
    )


def valid_casebook_signatures():
    from django.contrib.contenttypes.models import ContentType

    casebook_type = ContentType.objects.get_for_model(Casebook)
    return Signature.objects.filter(content_type=casebook_type, invalidated_at__isnull=True)


def data_queries() -> list:
    """The queries that read the clinical data (for the benchmark's COPY floor)."""
    return [_subject_rows(valid_casebook_signatures())] + [
        _form_rows(FORMS[code], form_columns(FORMS[code])) for code in sorted(FORMS)
    ]


def _item_formatter(column, form_code):
    """(ItemOID, function giving the ODM value or '' when missing) for one column."""
    to_text = plain_formatter(column.kind)
    if column.kind == "boolean":
        words = {"1": "true", "0": "false", "": ""}

        def value(v):
            return words[to_text(v)]

    else:
        value = to_text
    return f"I.{form_code}.{column.name}", value


# The clinical data is written as text rather than built as lxml elements: at a thousand patients
# building, indenting and serialising an element per value was most of the export's time. The text
# is exactly what lxml writes for those elements (pretty-printed, UTF-8), which the tests check by
# re-serialising the whole file with lxml and by comparing these escapers with lxml's output.
_ATTR_ESCAPE = re.compile('[&<>"\x00-\x1f\ud800-\udfff\ufffe\uffff]')
_TEXT_ESCAPE = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _not_xml(value: str) -> ValueError:
    # lxml refuses these characters (XML 1.0 cannot hold them) with a ValueError: so do we.
    return ValueError(f"All strings must be XML compatible, no NULL bytes or control characters: {value!r}")


def xml_attr(value: str) -> str:
    """``value`` escaped as lxml/libxml2 writes an attribute value in UTF-8: & < > " as entities,
    tab, line feed and carriage return as character references (so they survive attribute value
    normalisation), everything else as is."""
    if _ATTR_ESCAPE.search(value) is None:
        return value
    if _NOT_XML.search(value) is not None:
        raise _not_xml(value)
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )


def xml_text(value: str) -> str:
    """``value`` escaped as lxml/libxml2 writes element text in UTF-8: & < > as entities, carriage
    return as a character reference (a parser would turn it into a line feed), quotes, tabs and line
    feeds as is."""
    if _TEXT_ESCAPE.search(value) is None:
        return value
    if _NOT_XML.search(value) is not None:
        raise _not_xml(value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _subject_xml(trial_number, location, sig_user, meaning_oid, sig_meaning, sig_at, by_visit) -> bytes:
    """One SubjectData as the bytes lxml writes for it pretty-printed at its depth in the document
    (two spaces a level, the subject at level 2, empty elements self-closed), ``location`` escaped."""
    out = [f'    <SubjectData SubjectKey="{xml_attr(trial_number)}">\n']
    add = out.append
    if sig_user is not None:
        add("      <Signature>\n")
        add(f'        <UserRef UserOID="{xml_attr(f"U.{sig_user}")}"/>\n')
        add(f'        <LocationRef LocationOID="{location}"/>\n')
        add(f'        <SignatureRef SignatureOID="{xml_attr(meaning_oid[sig_meaning])}"/>\n')
        add(f"        <DateTimeStamp>{_iso(sig_at)}</DateTimeStamp>\n")
        add("      </Signature>\n")
    add(f'      <SiteRef LocationOID="{location}"/>\n')
    for visit_code in sorted(by_visit, key=lambda c: by_visit[c][0][1][3]):
        if visit_code.startswith("U") and visit_code[1:].isdigit():  # unscheduled: one repeating event
            add(f'      <StudyEventData StudyEventOID="SE.UNS" StudyEventRepeatKey="{xml_attr(visit_code[1:])}">\n')
        else:
            add(f'      <StudyEventData StudyEventOID="{xml_attr(event_oid(visit_code))}">\n')
        for (form_head, group_head, items, _rows, _next), row in by_visit[visit_code]:
            if form_head is None:  # repeating: the form's id is its repeat key
                add(f'{group_head[0]} FormRepeatKey="{row[1]}">\n')
                group_head = group_head[1]
            else:
                add(form_head)
            if row[4] is not None:
                add("          <AuditRecord>\n")
                add(f'            <UserRef UserOID="{"U.system" if row[5] is None else xml_attr(f"U.{row[5]}")}"/>\n')
                add(f'            <LocationRef LocationOID="{location}"/>\n')
                add(f"            <DateTimeStamp>{_iso(row[4])}</DateTimeStamp>\n")
                if row[6]:
                    add(f"            <ReasonForChange>{xml_text(row[6])}</ReasonForChange>\n")
                add("          </AuditRecord>\n")
            values = []
            for (head, value), v in zip(items, row[7:], strict=True):
                text = value(v)
                if text != "":
                    values.append(f'{head}{xml_attr(text)}"/>\n')
            if values:
                add(group_head)
                add("".join(values))
                add("          </ItemGroupData>\n")
            else:
                add(group_head[:-2] + "/>\n")
            add("        </FormData>\n")
        add("      </StudyEventData>\n")
    add("    </SubjectData>\n")
    return "".join(out).encode()


def write_odm(path: Path, *, lock, when: dt.datetime) -> Path:
    """Write the ODM file, streaming the clinical data one subject at a time.

    The head (metadata, admin data: bounded by the number of forms, users and sites) is an lxml tree as
    before. Each SubjectData is written as text (_subject_xml, with xml_attr/xml_text escaping exactly
    as lxml does) at its depth, so the file is byte-identical to pretty-printing the whole document but
    memory does not grow with the trial. (Building each subject as a small lxml tree and indenting it
    was correct but most of the export's time; lxml's incremental xmlfile re-declares the namespace
    on every written subtree and does not indent, so the output would change.)
    """
    root = etree.Element(
        f"{{{NS}}}ODM",
        nsmap={None: NS},
        FileType="Snapshot",
        FileOID=f"NELMAS.export.{lock.pk if lock else 'unlocked'}",
        CreationDateTime=_iso(when),
        ODMVersion="1.3.2",
        Granularity="All",
        Originator="NELMAS EDC",
        Description="Locked dataset" if lock else "NOT LOCKED: for monitoring only",
    )
    study = _e(root, "Study", OID=STUDY)
    columns_of = {model: form_columns(model) for model in FORMS.values()}  # labels are translated: once
    _metadata(study, columns_of)

    valid = valid_casebook_signatures()
    # Signature definitions numbered in the order the meanings first appear, casebooks taken from
    # the latest signed (as the signatures were grouped per casebook in newest-first order).
    meanings = {}
    for (meaning,) in (
        valid.annotate(_newest=Window(Max("signed_at"), partition_by=[F("object_id")]))
        .order_by("-_newest", "object_id", "-signed_at")
        .values_list("meaning")
        .iterator(chunk_size=CHUNK)
    ):
        if meaning not in meanings.values():
            meanings[f"SD.{len(meanings) + 1}"] = meaning
    meaning_oid = {m: oid for oid, m in meanings.items()}

    user_ids = Q(pk__in=valid.values("signer_id"))
    for model in FORMS.values():
        user_ids |= Q(pk__in=_newest_histories(model).values("history_user_id"))
    users = User.objects.filter(user_ids).order_by("username")
    sites = Site.objects.filter(pk__in=Patient.objects.values("site_id")).order_by("code")
    _admin(root, users, sites, meanings)

    clinical = _e(root, "ClinicalData", StudyOID=STUDY, MetaDataVersionOID=MDV)
    placeholder = etree.Comment(_MARK)
    clinical.append(placeholder)
    head = etree.tostring(etree.ElementTree(root), xml_declaration=True, encoding="UTF-8", pretty_print=True)
    mark = f"    <!--{_MARK}-->\n".encode()
    before, after = head.split(mark)

    patients = _subject_rows(valid).iterator(chunk_size=CHUNK)
    streams = []
    for form_code in sorted(FORMS):
        model = FORMS[form_code]
        columns = columns_of[model]
        # The fixed text around each form's values, escaped once: its FormData and ItemGroupData start
        # tags, and each ItemData's up to its value.
        form = xml_attr(f"F.{form_code}")
        group_head = f'          <ItemGroupData ItemGroupOID="{xml_attr(f"IG.{form_code}")}">\n'
        if model.REPEATING:
            form_head, group_head = None, (f'        <FormData FormOID="{form}"', group_head)
        else:
            form_head = f'        <FormData FormOID="{form}">\n'
        items = [
            (f'            <ItemData ItemOID="{xml_attr(oid)}" Value="', value)
            for oid, value in (_item_formatter(c, form_code) for c in columns)
        ]
        rows = _form_rows(model, columns).iterator(chunk_size=CHUNK)
        streams.append([form_head, group_head, items, rows, None])

    written = False
    with path.open("wb", buffering=1 << 20) as f:
        for patient_id, trial_number, site_code, sig_user, sig_meaning, sig_at in patients:
            if not written:
                f.write(before)
                written = True
            location = xml_attr(f"LOC.{site_code}")
            # This patient's forms, in the order the whole-trial export used: form code, visit, id.
            forms = []
            for stream in streams:
                row = stream[4]
                while True:
                    if row is None:
                        row = next(stream[3], False)
                    if row is False or row[0] != patient_id:
                        break
                    forms.append((stream, row))
                    row = None
                stream[4] = row
            by_visit: dict[str, list] = {}
            for stream, row in forms:
                by_visit.setdefault(row[2], []).append((stream, row))
            f.write(_subject_xml(trial_number, location, sig_user, meaning_oid, sig_meaning, sig_at, by_visit))
        if written:
            f.write(after)
        else:  # no subjects: an empty ClinicalData element, as the whole-tree serialisation wrote it
            clinical.remove(placeholder)
            f.write(etree.tostring(etree.ElementTree(root), xml_declaration=True, encoding="UTF-8", pretty_print=True))
    return path


def validate_odm(path: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    schema.assertValid(etree.parse(str(path)))
