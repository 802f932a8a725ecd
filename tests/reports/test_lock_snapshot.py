"""A dataset lock is a snapshot (protocol.md "Locks and sign-off"): while it stands nothing that
changes trial data is accepted (registration, randomisation, withdrawal, forms, AEs, corrections),
the export of lock N gives the same bytes after later locks and edits, and unlocking needs a reason
and a second person (data manager plus trial manager or statistician)."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create
from core.dataset_guard import TRIAL_DATA_APPS, DatasetLocked
from core.errors import DomainError, NotPermitted
from crf import services as crf
from crf.models import DatasetLock, Demographics, Query
from patients.models import ConsentDocument, Patient
from reports import locking
from reports.dataset import FORMATS, export_dataset
from tests.crf.factories import scheduled_patient
from tests.patients.factories import ConsentDocumentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.requirement("URS-LOCK-001", "URS-EXP-001")]


def _history_rows() -> int:
    """Every history row of every trial-data model: any accepted write adds at least one."""
    return sum(
        model.objects.count()
        for label in TRIAL_DATA_APPS
        for model in apps.get_app_config(label).get_models()
        if model.__name__.startswith("Historical")
    )


def _hard_lock(world) -> DatasetLock:
    # The checklist is tested elsewhere; here the state it would reach is forced.
    return DatasetLock.objects.create(
        kind="interim", level="hard", reason="Interim analysis", locked_by=world.data_manager, locked_at=timezone.now()
    )


def _unlock(world) -> None:
    locking.dataset_unlock_request(actor=world.data_manager, reason="Late data")
    locking.dataset_unlock_approve(actor=world.trial_manager)


def _api(user):
    _token, key = api_token_create(user=user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def trial(world, make_patient, blocks_design):
    """A randomised patient with a form and an open query, an eligible patient waiting for
    randomisation, and a current consent document."""
    patient = scheduled_patient(world.site_a)
    patient.consents.update(consented_at=timezone.now() - dt.timedelta(days=60))
    form = crf.crf_save(
        model=Demographics, visit=patient.visits.get(code="RAND"), data={"height_cm": Decimal(170)}, actor=world.nurse_a
    )
    query = crf.query_raise(form=form, field="height_cm", text="Check the height", actor=world.data_manager)
    waiting = make_patient()
    return {
        "patient": patient,
        "waiting": waiting,
        "query": query,
        "document": ConsentDocument.objects.order_by("-pk").first() or ConsentDocumentFactory(),
    }


TODAY = timezone.localdate


def _ae_fields(serious: bool) -> dict:
    data = {
        "term": "Nausea" if not serious else "Febrile neutropenia",
        "grade": 3 if serious else 1,
        "onset_date": (TODAY() - dt.timedelta(days=2)).isoformat(),
        "ongoing": True,
        "causality_lutathera": "possible",
        "causality_amino_acids": "unrelated",
        "causality_procedures": "unrelated",
        "action_taken": "not_applicable",
        "outcome": "recovering",
    }
    if serious:
        data |= {"serious": True, "criterion_hospitalisation": True, "aware_at": timezone.localtime().isoformat()}
    return data


def _ui_form(data: dict) -> dict:
    return {k: ("on" if v is True else v) for k, v in data.items() if v is not False}


def _register_ui(t):
    return {
        "initials": "JS",
        "year_of_birth": "1960",
        "sex": "F",
        "liver_resection_date": (TODAY() - dt.timedelta(days=40)).isoformat(),
        "primary_resection_date": (TODAY() - dt.timedelta(days=40)).isoformat(),
        "document": t["document"].pk,
        "consented_at": (timezone.localtime() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "not_a_duplicate": "on",
    }


# Each write path: (who, method, url builder, body builder). Bodies are valid: the same request is
# accepted once the lock is lifted, so the refusal under the lock is the lock's doing.
UI_PATHS = {
    "register": ("nurse_a", lambda t: reverse("patients:patient_register", kwargs={"code": "GB01"}), _register_ui),
    "consent": (
        "nurse_a",
        lambda t: reverse("patients:consent_add", args=[t["patient"].trial_number]),
        lambda t: {
            "document": t["document"].pk,
            "consented_at": (timezone.localtime() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "future_research": "on",
        },
    ),
    "eligibility": (
        "nurse_a",
        lambda t: reverse("patients:eligibility_edit", args=[t["waiting"].trial_number]),
        lambda t: {"assessed_on": TODAY().isoformat(), "ecog": "0", "reason": "Source checked", "version": "1"},
    ),
    "randomise": ("nurse_a", lambda t: reverse("randomisation:randomise", args=[t["waiting"].trial_number]), None),
    "withdraw": (
        "nurse_a",
        lambda t: reverse("patients:withdrawal_add", args=[t["patient"].trial_number]),
        lambda t: {
            "withdrawn_on": TODAY().isoformat(),
            "initiated_by": "patient",
            "level": "follow_up",
            "reason": "Moved abroad",
        },
    ),
    "form": (
        "nurse_a",
        lambda t: reverse("crf:form", args=[t["patient"].trial_number, "RAND", "demographics"]),
        lambda t: {"height_cm": "171", "version": "1", "reason": "Source says 171"},
    ),
    "ae": (
        "nurse_a",
        lambda t: reverse("safety:ae_new", args=[t["patient"].trial_number]),
        lambda t: _ui_form(_ae_fields(False)),
    ),
    "sae": (
        "nurse_a",
        lambda t: reverse("safety:ae_new", args=[t["patient"].trial_number]),
        lambda t: _ui_form(_ae_fields(True) | {"aware_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")}),
    ),
    "query_answer": (
        "nurse_a",
        lambda t: reverse("crf:query_detail", args=[t["query"].pk]),
        lambda t: {"action": "answer", "text": "Checked: 170 cm"},
    ),
}

API_PATHS = {
    "register": (
        "post",
        lambda t: "/api/v1/patients/",
        lambda t: {
            "site": "GB01",
            "initials": "XY",
            "year_of_birth": 1962,
            "sex": "F",
            "liver_resection_date": (TODAY() - dt.timedelta(days=35)).isoformat(),
            "primary_resection_date": (TODAY() - dt.timedelta(days=35)).isoformat(),
            "not_a_duplicate": True,
            "consent": {"document_version": t["document"].document_version, "consented_at": timezone.now().isoformat()},
        },
    ),
    "consent": (
        "post",
        lambda t: f"/api/v1/patients/{t['patient'].trial_number}/consent/",
        lambda t: {"document_version": t["document"].document_version, "consented_at": timezone.now().isoformat()},
    ),
    "eligibility": (
        "post",
        lambda t: f"/api/v1/patients/{t['waiting'].trial_number}/eligibility/",
        lambda t: {
            "answers": {"assessed_on": TODAY().isoformat(), "ecog": 1},
            "reason": "Source checked",
            "version": 0,
        },
    ),
    "randomise": ("post", lambda t: f"/api/v1/patients/{t['waiting'].trial_number}/randomise/", lambda t: {}),
    "form": (
        "put",
        lambda t: f"/api/v1/patients/{t['patient'].trial_number}/forms/demographics/",
        lambda t: {"visit": "RAND", "version": 1, "data": {"height_cm": 171}, "reason": "Source says 171"},
    ),
    "ae": (
        "post",
        lambda t: f"/api/v1/patients/{t['patient'].trial_number}/adverse-events/",
        lambda t: _ae_fields(False),
    ),
    "sae": (
        "post",
        lambda t: f"/api/v1/patients/{t['patient'].trial_number}/adverse-events/",
        lambda t: _ae_fields(True),
    ),
    "query_answer": ("post", lambda t: f"/api/v1/queries/{t['query'].pk}/answer/", lambda t: {"text": "Checked"}),
}


@pytest.mark.parametrize("path", sorted(UI_PATHS))
def test_every_write_through_the_pages_is_refused_under_a_hard_lock_naming_it(client, world, trial, path):
    who, url, body = UI_PATHS[path]
    client.force_login(getattr(world, who))
    lock = _hard_lock(world)
    before = _history_rows()
    response = client.post(url(trial), body(trial) if body else {}, follow=True)
    assert f"Dataset lock {lock.pk}" in response.content.decode(), response.content.decode()[-2000:]
    assert _history_rows() == before
    # The same request is accepted once the lock is lifted: the lock, not the input, refused it.
    _unlock(world)
    before = _history_rows()
    response = client.post(url(trial), body(trial) if body else {}, follow=True)
    assert "Dataset lock" not in response.content.decode()
    assert _history_rows() > before, response.content.decode()[-3000:]


@pytest.mark.parametrize("path", sorted(API_PATHS))
def test_every_write_through_the_api_is_refused_under_a_hard_lock_naming_it(world, trial, path):
    method, url, body = API_PATHS[path]
    client = _api(world.nurse_a)
    lock = _hard_lock(world)
    before = _history_rows()
    response = getattr(client, method)(url(trial), body(trial), format="json")
    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "dataset_locked" and f"Dataset lock {lock.pk}" in response.json()["message"]
    assert _history_rows() == before
    _unlock(world)
    before = _history_rows()
    response = getattr(client, method)(url(trial), body(trial), format="json")
    assert response.status_code in (200, 201), response.json()
    assert _history_rows() > before


def test_services_below_crf_are_refused_too(world, trial):
    """patients and randomisation reach the guard without importing crf (the layering)."""
    from patients import services as patients
    from randomisation import services as randomisation

    _hard_lock(world)
    with pytest.raises(DatasetLocked):
        patients.patient_withdraw(
            actor=world.nurse_a,
            patient=trial["patient"],
            data={"withdrawn_on": TODAY(), "initiated_by": "patient", "level": "follow_up", "reason": "x"},
        )
    with pytest.raises(DatasetLocked):
        randomisation.patient_randomise(patient=trial["waiting"], actor=world.nurse_a)
    with pytest.raises(DatasetLocked):
        crf.query_raise(form=Demographics.objects.get(), field="height_cm", text="Again?", actor=world.data_manager)
    assert Patient.objects.get(pk=trial["waiting"].pk).status != Patient.Status.RANDOMISED


def test_unlock_needs_a_reason_and_a_second_person(world):
    lock = _hard_lock(world)
    with pytest.raises(DomainError, match="reason"):
        locking.dataset_unlock_request(actor=world.data_manager, reason=" ")
    with pytest.raises(NotPermitted):
        locking.dataset_unlock_request(actor=world.trial_manager, reason="Late data")
    with pytest.raises(DomainError, match="not asked"):
        locking.dataset_unlock_approve(actor=world.trial_manager)
    locking.dataset_unlock_request(actor=world.data_manager, reason="Late SAE follow-up")
    assert DatasetLock.current() == lock  # asking does not lift it
    with pytest.raises(NotPermitted):
        locking.dataset_unlock_approve(actor=world.data_manager)  # the data manager cannot approve alone
    with pytest.raises(NotPermitted):
        locking.dataset_unlock_approve(actor=world.monitor)
    locking.dataset_unlock_approve(actor=world.statistician)
    lock.refresh_from_db()
    assert DatasetLock.current() is None
    assert (lock.unlock_requested_by, lock.unlocked_by, lock.unlock_reason) == (
        world.data_manager,
        world.statistician,
        "Late SAE follow-up",
    )


def test_unlock_from_the_page_is_asked_then_approved_by_someone_else(client, world):
    _hard_lock(world)
    url = reverse("reports:dataset")
    client.force_login(world.data_manager)
    client.post(url, {"action": "unlock", "reason": "Data correction"})
    page = client.get(url).content.decode()
    assert "Unlock asked for by" in page and DatasetLock.current() is not None
    client.post(url, {"action": "approve_unlock"})
    assert DatasetLock.current() is not None
    client.force_login(world.trial_manager)
    page = client.get(url).content.decode()
    assert "Approve and unlock" in page and "Data correction" in page
    client.post(url, {"action": "approve_unlock", "reason": "Agreed"})
    assert DatasetLock.current() is None


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "manifest.json"}


def test_export_of_lock_1_is_byte_identical_after_unlock_edits_and_lock_2(world, tmp_path):
    patient = scheduled_patient(world.site_a)
    form = crf.crf_save(
        model=Demographics, visit=patient.visits.get(code="RAND"), data={"height_cm": Decimal(170)}, actor=world.nurse_a
    )
    lock1 = _hard_lock(world)
    export_dataset(formats=list(FORMATS), out=tmp_path / "first", actor=world.data_manager)
    first = _files(tmp_path / "first")
    assert {"demographics.csv", "nelmas-odm.xml", "demograp.xpt", "demographics.sav", "demographics.dta"} <= set(first)
    _unlock(world)
    crf.crf_save(
        model=Demographics,
        visit=form.visit,
        data={"height_cm": Decimal(182)},
        actor=world.nurse_a,
        reason="Transcription error",
        expected_version=form.version,
    )
    scheduled_patient(world.site_b)
    lock2 = _hard_lock(world)
    export_dataset(formats=list(FORMATS), out=tmp_path / "second", actor=world.data_manager)
    assert b"182" in (tmp_path / "second" / "demographics.csv").read_bytes()
    export_dataset(formats=list(FORMATS), out=tmp_path / "again", actor=world.data_manager, lock_id=lock1.pk)
    assert _files(tmp_path / "again") == first
    assert b"182" not in first["demographics.csv"]
    assert lock2.pk != lock1.pk


def test_a_lock_unlocked_before_any_export_is_still_exportable(world, tmp_path):
    scheduled_patient(world.site_a)
    lock1 = _hard_lock(world)
    _unlock(world)  # the unlock stores the snapshot while the data are still frozen
    scheduled_patient(world.site_b)
    export_dataset(formats=["csv"], out=tmp_path, actor=world.data_manager, lock_id=lock1.pk)
    assert (tmp_path / "patients.csv").read_text().count("\n") == 2  # header + the one patient at lock 1


def test_export_command_names_the_exporter_and_the_manifest_the_lock(world, tmp_path, settings):
    import json

    lock = _hard_lock(world)
    settings.LOCAL_MODE = False
    with pytest.raises(CommandError, match="--user"):
        call_command("export_dataset", "--format", "csv", "--out", str(tmp_path))
    with pytest.raises(CommandError, match="not an active data manager"):
        call_command("export_dataset", "--format", "csv", "--out", str(tmp_path), "--user", world.nurse_a.username)
    call_command(
        "export_dataset",
        "--format",
        "csv",
        "--out",
        str(tmp_path),
        "--user",
        world.data_manager.username,
        stdout=io.StringIO(),
    )
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["exported_by"] == world.data_manager.username
    assert manifest["lock"]["id"] == lock.pk and manifest["lock"]["reason"] == "Interim analysis"
    assert manifest["lock"]["locked_by"] == world.data_manager.username
    assert len(manifest["software_version"]) >= 7
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])


def test_an_unlocked_export_says_so_in_every_file_name_and_label(world, tmp_path):
    import pyreadstat

    scheduled_patient(world.site_a)
    manifest = export_dataset(formats=list(FORMATS), out=tmp_path, actor=world.data_manager, allow_unlocked=True)
    names = [p.name for p in tmp_path.iterdir()]
    assert names and all(n.startswith("NOT-LOCKED-") for n in names), names
    assert manifest["lock"].startswith("NOT LOCKED")
    _frame, meta = pyreadstat.read_sav(str(tmp_path / "NOT-LOCKED-patients.sav"))
    assert meta.file_label.startswith("NOT-LOCKED")


def test_api_export_is_attributed_to_its_caller(world, django_capture_on_commit_callbacks):
    import json
    import zipfile

    from reports.models import GeneratedFile

    _hard_lock(world)
    with django_capture_on_commit_callbacks(execute=True):
        started = _api(world.data_manager).post("/api/v1/exports/", format="json")
    assert started.status_code == 202
    generated = GeneratedFile.objects.get(pk=started.json()["id"])
    with zipfile.ZipFile(generated.file.open("rb")) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["exported_by"] == world.data_manager.username


def test_soft_lock_lets_queries_be_answered_but_no_data_change(world, trial):
    DatasetLock.objects.create(
        kind="interim", level="soft", reason="Interim", locked_by=world.data_manager, locked_at=timezone.now()
    )
    crf.query_answer(query=trial["query"], text="Checked", actor=world.nurse_a)
    assert Query.objects.get(pk=trial["query"].pk).status == Query.Status.ANSWERED
    with pytest.raises(DatasetLocked, match="soft lock"):
        crf.crf_save(
            model=Demographics,
            visit=trial["patient"].visits.get(code="RAND"),
            data={"weight_kg": Decimal(70)},
            actor=world.nurse_a,
        )
