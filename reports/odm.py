"""CDISC ODM 1.3.2 export: metadata (events, forms, item groups, items, code lists, units) and
clinical data with audit records and signatures. Validated against the official schema in tests."""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, F, Max, OuterRef, Q, Subquery, Window
from django.db.models.functions import Cast
from lxml import etree

from accounts.models import Signature, User
from crf import schedule
from crf.models import Casebook
from crf.registry import FORMS
from patients.models import Patient
from sites.models import Site

from . import odm_archive as archive
from .dataset import CHUNK, form_columns
from .missing import (
    MISSING_CODES,
    NOT_DONE,
    NOT_ENTERED,
    Absent,
    absent_form,
    expected_by_visit,
    scheduled_forms,
    visit_absent,
    visit_facts,
)

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
    # Changes made with no user (data migrations, system processes) are attributed to this one.
    system = _e(admin, "User", OID="U.system")
    _e(system, "FullName", "NELMAS EDC (system: no user logged in)")
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


# The history tables are read side by side (one server-side cursor each, some sixty), so each
# holds a chunk in memory at once: a smaller chunk than the tables' (CHUNK) keeps the archive's
# memory down (1,000 patients: 77 MB added with 2,000-row chunks).
HISTORY_CHUNK = 500


@functools.cache
def _history_model(model):
    """The history model of a form: django-simple-history builds a new manager class on every
    ``model.history`` access (about a millisecond each)."""
    return model.history.model


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
    casebook_type = ContentType.objects.get_for_model(Casebook)
    return Signature.objects.filter(content_type=casebook_type, invalidated_at__isnull=True)


def data_queries() -> list:
    """The queries that read the clinical data (for the benchmark's COPY floor)."""
    return [_subject_rows(valid_casebook_signatures())] + [source.history_rows() for source in archive.sources()]


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


def _annotation(indent: str, code: str, comment: str) -> str:
    """A missing-data code as ODM 1.3.2 carries it: an Annotation with the reason as its Comment and
    a Flag whose FlagValue is from the code list CL.MISSING."""
    # An element without text is self-closed, as lxml writes it.
    text = f"{indent}  <Comment>{xml_text(comment)}</Comment>\n" if comment else f"{indent}  <Comment/>\n"
    return (
        f'{indent}<Annotation SeqNum="1">\n'
        f"{text}"
        f"{indent}  <Flag>\n"
        f'{indent}    <FlagValue CodeListOID="CL.MISSING">{code}</FlagValue>\n'
        f"{indent}  </Flag>\n"
        f"{indent}</Annotation>\n"
    )


def _subject_xml(trial_number, location, sig_user, meaning_oid, sig_meaning, sig_at, by_event, visits) -> bytes:
    """One SubjectData as the bytes lxml writes for it pretty-printed at its depth in the document
    (two spaces a level, the subject at level 2, empty elements self-closed), ``location`` escaped.

    ``by_event``: event code → [(stream, record)] of the records written from their history;
    ``visits``: event code → (order, the visit's Absent or None, [(form code, Absent)]) of the
    visits with a missing-data code (_missing_visits)."""
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
    order = {code: records[0][1][3] for code, records in by_event.items()}
    for code, (sequence, _absent, _forms) in visits.items():
        order.setdefault(code, sequence)
    for visit_code in sorted(order, key=order.get):
        if visit_code.startswith("U") and visit_code[1:].isdigit():  # unscheduled: one repeating event
            add(f'      <StudyEventData StudyEventOID="SE.UNS" StudyEventRepeatKey="{xml_attr(visit_code[1:])}">\n')
        else:
            add(f'      <StudyEventData StudyEventOID="{xml_attr(event_oid(visit_code))}">\n')
        _sequence, absent, absent_forms = visits.get(visit_code, (None, None, []))
        if absent is not None:
            add(_annotation("        ", absent.code.odm, _comment(absent)))
        for (source, heads, table), record in by_event.get(visit_code, []):
            out += archive.form_xml(
                source, heads, record, location, xml_attr=xml_attr, xml_text=xml_text, iso=_iso, history_table=table
            )
        for form_code, form in absent_forms:
            add(f'        <FormData FormOID="{xml_attr(f"F.{form_code}")}">\n')
            add(_annotation("          ", form.code.odm, _comment(form)))
            add("        </FormData>\n")
        add("      </StudyEventData>\n")
    add("    </SubjectData>\n")
    return "".join(out).encode()


def _archive_metadata(mdv, sources) -> None:
    """The subject-level event and forms, each CRF's form status item and the missing-data code list,
    put where ODM 1.3.2 orders them in the MetaDataVersion."""

    def last(tag):
        return mdv.findall(f"{{{NS}}}{tag}")[-1]

    subject = [s for s in sources if not s.from_visits]
    own = [s for s in sources if s.code == "visit"]  # the visit's own record, in every visit's event
    protocol = mdv.find(f"{{{NS}}}Protocol")
    refs = protocol.findall(f"{{{NS}}}StudyEventRef")
    for ref in refs:
        ref.set("OrderNumber", str(int(ref.get("OrderNumber")) + 1))
    first_ref = etree.Element(f"{{{NS}}}StudyEventRef", StudyEventOID=event_oid(archive.SUBJECT_EVENT))
    first_ref.set("OrderNumber", "1")
    first_ref.set("Mandatory", "Yes")
    refs[0].addprevious(first_ref)
    event = etree.Element(
        f"{{{NS}}}StudyEventDef",
        OID=event_oid(archive.SUBJECT_EVENT),
        Name="Subject record: status, randomisation, adverse events and SAE reports",
        Repeating="No",
        Type="Common",
    )
    for order, source in enumerate(subject, start=1):
        _e(event, "FormRef", FormOID=f"F.{source.code}", OrderNumber=order, Mandatory="No")
    for definition in mdv.findall(f"{{{NS}}}StudyEventDef"):
        for form_ref in definition.findall(f"{{{NS}}}FormRef"):
            form_ref.set("OrderNumber", str(int(form_ref.get("OrderNumber")) + len(own)))
        for source in own:
            first = definition.find(f"{{{NS}}}FormRef")
            ref = etree.Element(f"{{{NS}}}FormRef", FormOID=f"F.{source.code}", OrderNumber="1", Mandatory="No")
            if first is None:
                definition.append(ref)
            else:
                first.addprevious(ref)
    mdv.find(f"{{{NS}}}StudyEventDef").addprevious(event)
    anchor = last("FormDef")
    for source in reversed(subject + own):
        form = etree.Element(
            f"{{{NS}}}FormDef", OID=f"F.{source.code}", Name=source.title, Repeating="Yes" if source.repeating else "No"
        )
        _e(form, "ItemGroupRef", ItemGroupOID=f"IG.{source.code}", Mandatory="Yes")
        anchor.addnext(form)
    for group in mdv.findall(f"{{{NS}}}ItemGroupDef"):
        code = group.get("OID").removeprefix("IG.")
        if code in FORMS:
            _e(
                group,
                "ItemRef",
                ItemOID=f"I.{code}.{archive.FORM_STATUS.name}",
                OrderNumber=len(group) + 1,
                Mandatory="Yes",
            )
    anchor = last("ItemGroupDef")
    for source in reversed(subject + own):
        group = etree.Element(f"{{{NS}}}ItemGroupDef", OID=f"IG.{source.code}", Name=source.title, Repeating="No")
        for order, column in enumerate(source.columns, start=1):
            _e(group, "ItemRef", ItemOID=f"I.{source.code}.{column.name}", OrderNumber=order, Mandatory="No")
        anchor.addnext(group)
    units = {mu.get("Name"): mu.get("OID") for mu in mdv.getparent().iter(f"{{{NS}}}MeasurementUnit")}
    new_items, new_lists = [], []
    for source in sources:
        columns = [archive.FORM_STATUS] if source.code in FORMS else source.columns
        for column in columns:
            item = etree.Element(
                f"{{{NS}}}ItemDef",
                OID=f"I.{source.code}.{column.name}",
                Name=column.name,
                DataType=DATATYPES[column.kind],
            )
            _translated(item, "Question", column.label)
            if column.unit and column.unit in units:
                _e(item, "MeasurementUnitRef", MeasurementUnitOID=units[column.unit])
            if column.codes:
                oid = f"CL.{source.code}.{column.name}"
                _e(item, "CodeListRef", CodeListOID=oid)
                code_list = etree.Element(f"{{{NS}}}CodeList", OID=oid, Name=column.label, DataType="text")
                for value, label in column.codes:
                    entry = _e(code_list, "CodeListItem", CodedValue=value)
                    _translated(entry, "Decode", label)
                new_lists.append(code_list)
            new_items.append(item)
    missing = etree.Element(f"{{{NS}}}CodeList", OID="CL.MISSING", Name="Missing-data codes", DataType="text")
    for code in MISSING_CODES:
        entry = _e(missing, "CodeListItem", CodedValue=code.odm)
        _translated(entry, "Decode", code.label)
    new_lists.append(missing)
    anchor = last("ItemDef")
    for item in reversed(new_items):
        anchor.addnext(item)
    code_lists = mdv.findall(f"{{{NS}}}CodeList")
    anchor = code_lists[-1] if code_lists else last("ItemDef")
    for code_list in reversed(new_lists):
        anchor.addnext(code_list)


def _missing_visits():
    """Visits with a missing-data code or forms with one, in subject order (the database's order of
    trial numbers, as _subject_rows): (patient id, visit code, visit order, the visit's Absent or
    None, [(form code, Absent)]). A form carries its own code only where it differs from the
    visit's (not done; not applicable for consent or a treatment withdrawal); a form not entered
    carries none (ODM: no FormData is no data)."""
    codes = sorted(scheduled_forms())
    by_visit = expected_by_visit()
    for visit in visit_facts(form_codes=codes, byte_order=False):
        absent = visit_absent(visit)
        expected = by_visit.get(visit.code, ())
        forms = []
        for code, saved, not_done in visit.forms:
            if saved or (code not in expected and not not_done):
                continue
            form = absent_form(visit, code, not_done) if code in expected else Absent(NOT_DONE, "", not_done)
            if form is not None and form.code is not NOT_ENTERED and form != absent:
                forms.append((code, form))
        if absent is not None or forms:
            yield visit.patient_id, visit.code, visit.sequence, absent, forms


def _comment(absent) -> str:
    """The Annotation's Comment: the reason, after the why of a not-applicable code."""
    return f"{absent.why}: {absent.reason}" if absent.why else absent.reason


def write_odm(path: Path, *, lock, when: dt.datetime) -> Path:
    """Write the ODM archive, streaming the clinical data one subject at a time.

    The head (metadata, admin data: bounded by the number of forms, users and sites) is an lxml tree.
    Each SubjectData is written as text (with xml_attr/xml_text escaping exactly as lxml does) at its
    depth, so the file is byte-identical to pretty-printing the whole document but memory does not
    grow with the trial. The clinical data is the item-level audit trail (reports.odm_archive).
    """
    root = etree.Element(
        f"{{{NS}}}ODM",
        nsmap={None: NS},
        FileType="Transactional",
        Archival="Yes",
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
    sources = archive.sources()
    _archive_metadata(study.find(f"{{{NS}}}MetaDataVersion"), sources)

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

    # Every user who touched the data (ODM 1.3.2 AdminData: each UserRef resolves to a User).
    user_ids = Q(pk__in=valid.values("signer_id"))
    for source in sources:
        user_ids |= Q(pk__in=_history_model(source.model).objects.values("history_user_id"))
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
    for source in sources:
        heads = archive.item_heads(source, xml_attr)
        records = archive.grouped(source.history_rows().iterator(chunk_size=HISTORY_CHUNK))
        streams.append([(source, heads, _history_model(source.model)._meta.db_table), records, None])
    missing = _missing_visits()
    pending_visit = None

    written = False
    with path.open("wb", buffering=1 << 20) as f:
        for patient_id, trial_number, site_code, sig_user, sig_meaning, sig_at in patients:
            if not written:
                f.write(before)
                written = True
            location = xml_attr(f"LOC.{site_code}")
            # This patient's records, in the order of the sources (subject-level first, then form
            # code), then visit and id.
            by_event: dict[str, list] = {}
            for stream in streams:
                record = stream[2]
                while True:
                    if record is None:
                        record = next(stream[1], False)
                    if record is False or record[0] != patient_id:
                        break
                    by_event.setdefault(record[2], []).append((stream[0], record))
                    record = None
                stream[2] = record
            visits = {}
            while True:
                if pending_visit is None:
                    pending_visit = next(missing, False)
                if pending_visit is False or pending_visit[0] != patient_id:
                    break
                visits[pending_visit[1]] = pending_visit[2:]
                pending_visit = None
            f.write(_subject_xml(trial_number, location, sig_user, meaning_oid, sig_meaning, sig_at, by_event, visits))
        if written:
            f.write(after)
        else:  # no subjects: an empty ClinicalData element, as the whole-tree serialisation wrote it
            clinical.remove(placeholder)
            f.write(etree.tostring(etree.ElementTree(root), xml_declaration=True, encoding="UTF-8", pretty_print=True))
    return path


def validate_odm(path: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    schema.assertValid(etree.parse(str(path)))
