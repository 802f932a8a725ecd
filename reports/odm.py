"""CDISC ODM 1.3.2 export: metadata (events, forms, item groups, items, code lists, units) and
clinical data with audit records and signatures. Validated against the official schema in tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lxml import etree

from accounts.models import Signature, User
from crf import schedule
from crf.models import Casebook
from crf.registry import FORMS
from patients.models import Patient
from sites.models import Site

from .dataset import form_columns, plain

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


def _metadata(study):
    variables = _e(study, "GlobalVariables")
    _e(variables, "StudyName", STUDY)
    _e(variables, "StudyDescription", "177Lu-DOTATATE after resection of neuroendocrine liver metastases")
    _e(variables, "ProtocolName", STUDY)
    units = {}
    for model in FORMS.values():
        for column in form_columns(model):
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
        for order, column in enumerate(form_columns(model), start=1):
            _e(
                group,
                "ItemRef",
                ItemOID=f"I.{form_code}.{column.name}",
                OrderNumber=order,
                Mandatory="Yes" if column.name in model.REQUIRED_FOR_COMPLETE else "No",
            )
    for form_code in sorted(FORMS):
        model = FORMS[form_code]
        for column in form_columns(model):
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


def write_odm(path: Path, *, lock, when: dt.datetime) -> Path:
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
    _metadata(study)

    patients = list(Patient.objects.select_related("site").order_by("trial_number"))
    forms_by_patient: dict[int, list] = {}
    histories = {}
    for form_code in sorted(FORMS):
        model = FORMS[form_code]
        forms = list(model.objects.select_related("visit").order_by("visit__sequence", "pk"))
        latest = {}
        for record in model.history.select_related("history_user").order_by("id", "history_date", "history_id"):
            latest[record.id] = record
        for form in forms:
            forms_by_patient.setdefault(form.patient_id, []).append((form_code, form))
            histories[(form_code, form.pk)] = latest.get(form.pk)
    casebooks = {c.patient_id: c for c in Casebook.objects.all()}
    signatures = {}
    from django.contrib.contenttypes.models import ContentType

    casebook_type = ContentType.objects.get_for_model(Casebook)
    for signature in Signature.objects.filter(content_type=casebook_type, invalidated_at__isnull=True).select_related(
        "signer"
    ):
        signatures.setdefault(signature.object_id, []).append(signature)
    meanings = {}
    for items in signatures.values():
        for signature in items:
            meanings.setdefault(f"SD.{len(meanings) + 1}", signature.meaning)
    meaning_oid = {m: oid for oid, m in meanings.items()}
    user_ids = {r.history_user_id for r in histories.values() if r is not None and r.history_user_id}
    user_ids |= {s.signer_id for items in signatures.values() for s in items}
    users = list(User.objects.filter(pk__in=user_ids).order_by("username"))
    sites = list(Site.objects.filter(pk__in={p.site_id for p in patients}).order_by("code"))
    _admin(root, users, sites, meanings)

    clinical = _e(root, "ClinicalData", StudyOID=STUDY, MetaDataVersionOID=MDV)
    for patient in patients:
        subject = _e(clinical, "SubjectData", SubjectKey=patient.trial_number)
        casebook = casebooks.get(patient.pk)
        for signature in signatures.get(str(casebook.pk), []) if casebook else []:
            sig = _e(subject, "Signature")
            _e(sig, "UserRef", UserOID=f"U.{signature.signer.username}")
            _e(sig, "LocationRef", LocationOID=f"LOC.{patient.site.code}")
            _e(sig, "SignatureRef", SignatureOID=meaning_oid[signature.meaning])
            _e(sig, "DateTimeStamp", _iso(signature.signed_at))
            break  # ODM allows one Signature per SubjectData: the latest valid one
        _e(subject, "SiteRef", LocationOID=f"LOC.{patient.site.code}")
        by_visit: dict[str, list] = {}
        for form_code, form in forms_by_patient.get(patient.pk, []):
            by_visit.setdefault(form.visit.code, []).append((form_code, form))
        for visit_code in sorted(by_visit, key=lambda c: by_visit[c][0][1].visit.sequence):
            unscheduled = visit_code.startswith("U") and visit_code[1:].isdigit()
            event = _e(
                subject,
                "StudyEventData",
                StudyEventOID=event_oid("UNS" if unscheduled else visit_code),
                StudyEventRepeatKey=visit_code[1:] if unscheduled else None,
            )
            for form_code, form in by_visit[visit_code]:
                model = FORMS[form_code]
                form_data = _e(
                    event, "FormData", FormOID=f"F.{form_code}", FormRepeatKey=str(form.pk) if model.REPEATING else None
                )
                record = histories.get((form_code, form.pk))
                if record is not None:
                    _audit(form_data, record, patient.site.code)
                group = _e(form_data, "ItemGroupData", ItemGroupOID=f"IG.{form_code}")
                for column in form_columns(model):
                    value = plain(getattr(form, column.name), column.kind)
                    if value == "":
                        continue
                    if column.kind == "boolean":
                        value = "true" if value == "1" else "false"
                    _e(group, "ItemData", ItemOID=f"I.{form_code}.{column.name}", Value=value)
    tree = etree.ElementTree(root)
    tree.write(str(path), xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return path


def validate_odm(path: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    schema.assertValid(etree.parse(str(path)))
