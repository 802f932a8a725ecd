"""The REST API: tokens, scope (404 outside the caller's sites on every endpoint), the same rules
as the app (edit checks per field, reasons, 409 on conflicts), JSON errors, rate limits."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create, api_token_revoke
from accounts.models import ApiToken, AuditEvent
from crf import services as crf
from crf.models import Demographics, Query
from tests.crf.factories import scheduled_patient
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def api(user):
    _token, key = api_token_create(user=user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_token_is_stored_hashed_shown_once_and_carries_the_users_scope(world):
    token, key = api_token_create(user=world.nurse_a, name="lab import")
    assert key.startswith("nel_") and key not in token.key_hash and len(token.key_hash) == 64
    assert token.expires_at - timezone.now() > dt.timedelta(days=89)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    sites = client.get("/api/v1/sites/").json()
    assert [s["code"] for s in sites] == ["GB01"]
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize("how", ["revoked", "expired", "unknown"])
def test_revoked_expired_or_unknown_token_gets_401_and_is_audited(world, how):
    token, key = api_token_create(user=world.nurse_a, name="t")
    if how == "revoked":
        api_token_revoke(token=token, actor=world.nurse_a)
    elif how == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    else:
        key = "nel_" + "x" * 43
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.get("/api/v1/patients/")
    assert response.status_code == 401 and response.json()["code"] == "authentication_failed"
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.API_TOKEN_REFUSED).exists()
    assert APIClient().get("/api/v1/patients/").status_code == 401  # no token at all


def test_tokens_page_creates_shows_once_and_revokes(client, world):
    client.force_login(world.nurse_a)
    page = client.post(reverse("accounts:api_tokens"), {"name": "R script"}).content.decode()
    token = ApiToken.objects.get(user=world.nurse_a)
    assert "nel_" + token.prefix in page and "not shown again" in page
    assert "nel_" + token.prefix not in client.get(reverse("accounts:api_tokens")).content.decode().replace(
        f"nel_{token.prefix}…", ""
    )
    client.post(reverse("accounts:api_tokens"), {"action": "revoke", "token": token.pk})
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_create_api_token_command_prints_the_token_once(world):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", world.data_manager.username, "--name", "nightly export", stdout=out, stderr=err)
    key = out.getvalue().strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/queries/").status_code == 200
    assert "not shown again" in err.getvalue()


def _site_b_urls(world):
    patient = scheduled_patient(world.site_b)
    form = crf.crf_save(
        model=Demographics, visit=patient.visits.get(code="RAND"), data={"height_cm": Decimal(170)}, actor=world.nurse_b
    )
    query = crf.query_raise(form=form, field="height_cm", text="?", actor=world.data_manager)
    tn = patient.trial_number
    return [
        ("get", f"/api/v1/patients/{tn}/", None),
        ("post", f"/api/v1/patients/{tn}/consent/", {"document_version": "1.0", "consented_at": "2026-01-01T10:00Z"}),
        ("post", f"/api/v1/patients/{tn}/eligibility/", {"answers": {"ecog": 0}}),
        ("post", f"/api/v1/patients/{tn}/randomise/", {}),
        ("get", f"/api/v1/patients/{tn}/visits/", None),
        ("get", f"/api/v1/patients/{tn}/forms/demographics/?visit=RAND", None),
        ("put", f"/api/v1/patients/{tn}/forms/demographics/", {"visit": "RAND", "data": {}, "version": 1}),
        ("get", f"/api/v1/patients/{tn}/adverse-events/", None),
        ("post", f"/api/v1/patients/{tn}/adverse-events/", {"term": "x"}),
        ("post", f"/api/v1/queries/{query.pk}/answer/", {"text": "x"}),
    ]


def test_site_a_token_gets_404_for_every_site_b_resource(world):
    client = api(world.nurse_a)
    urls = _site_b_urls(world)
    for method, url, body in urls:
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.json()["code"] == "not_found"
    listed = client.get("/api/v1/queries/?status=all").json()
    assert listed == []
    assert client.get("/api/v1/patients/").json() == []
    # The trial-wide data manager sees site B's records.
    dm = api(world.data_manager)
    assert dm.get(urls[0][1]).status_code == 200


def test_form_put_applies_the_same_checks_reasons_and_version_conflicts(world):
    patient = scheduled_patient(world.site_a)
    client = api(world.nurse_a)
    url = f"/api/v1/patients/{patient.trial_number}/forms/liver_resection/"
    # A hard check refuses with a message at the field; nothing is saved.
    bad = client.put(
        url,
        {"visit": "RAND", "version": 0, "data": {"complications": True, "resection_date": "2026-01-01"}},
        format="json",
    )
    assert bad.status_code == 400 and "clavien_dindo" in bad.json()["fields"]
    typed = client.put(url, {"visit": "RAND", "version": 0, "data": {"largest_mm": "abc"}}, format="json")
    assert typed.status_code == 400 and "largest_mm" in typed.json()["fields"]
    ranged = client.put(url, {"visit": "RAND", "version": 0, "data": {"largest_mm": 999}}, format="json")
    assert ranged.status_code == 400 and "largest_mm" in ranged.json()["fields"]
    ok = client.put(url, {"visit": "RAND", "version": 0, "data": {"largest_mm": 30, "approach": "open"}}, format="json")
    assert ok.status_code == 200 and ok.json()["version"] == 1 and ok.json()["data"]["largest_mm"] == "30"
    # Changing a saved value needs a reason; a stale version is a 409 conflict.
    no_reason = client.put(url, {"visit": "RAND", "version": 1, "data": {"largest_mm": 31}}, format="json")
    assert no_reason.status_code == 400 and no_reason.json()["code"] == "reason_required"
    saved = client.put(
        url, {"visit": "RAND", "version": 1, "data": {"largest_mm": 31}, "reason": "Path report"}, format="json"
    )
    assert saved.status_code == 200 and saved.json()["version"] == 2
    stale = client.put(url, {"visit": "RAND", "version": 1, "data": {"largest_mm": 35}, "reason": "x"}, format="json")
    assert stale.status_code == 409 and stale.json()["code"] == "edit_conflict"
    assert client.get(url + "?visit=RAND").json()["data"]["largest_mm"] == "31"
    unknown = client.put(url, {"visit": "RAND", "version": 2, "data": {"nonsense": 1}}, format="json")
    assert unknown.status_code == 400 and "nonsense" in unknown.json()["fields"]
    # Audited like a UI write.
    history = Demographics  # noqa: F841 - (form model differs; the history of this one is below)
    from crf.models import LiverResection

    assert LiverResection.objects.get().history.first().history_change_reason == "Path report"


def test_form_put_with_complete_is_one_transaction_and_a_refusal_saves_nothing(world):
    # Issue 21 (bug): "complete" used to be a second transaction after the save, so a refused
    # completion left the data saved at a version the client never got back, and its next save was
    # a 409 conflict with itself. Demographics needs ethnicity, height and weight to be complete
    # (crf/models/forms.py REQUIRED_FOR_COMPLETE).
    patient = scheduled_patient(world.site_a)
    client = api(world.nurse_a)
    url = f"/api/v1/patients/{patient.trial_number}/forms/demographics/"
    partial = {"visit": "RAND", "version": 0, "data": {"ethnicity": "white", "height_cm": 170}}
    refused = client.put(url, {**partial, "complete": True}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "incomplete"
    assert "weight_kg" in refused.json()["fields"] and "height_cm" not in refused.json()["fields"]
    assert not Demographics.objects.exists() and not Demographics.history.exists()
    retried = client.put(url, partial, format="json")  # the same version 0: not a conflict
    assert retried.status_code == 200 and retried.json()["version"] == 1
    done = client.put(
        url, {"visit": "RAND", "version": 1, "data": {"weight_kg": 70}, "complete": True}, format="json"
    )
    assert done.status_code == 200 and done.json()["status"] == "complete"
    assert Demographics.objects.get().status == "complete"


def test_api_write_roles_and_query_actions(world):
    patient = scheduled_patient(world.site_a)
    form = crf.crf_save(
        model=Demographics, visit=patient.visits.get(code="RAND"), data={"height_cm": Decimal(170)}, actor=world.nurse_a
    )
    query = crf.query_raise(form=form, field="height_cm", text="Check", actor=world.data_manager)
    nurse, dm = api(world.nurse_a), api(world.data_manager)
    assert nurse.post(f"/api/v1/queries/{query.pk}/close/", {"text": ""}, format="json").status_code == 403
    assert nurse.post(f"/api/v1/queries/{query.pk}/answer/", {"text": "OK"}, format="json").status_code == 200
    closed = dm.post(f"/api/v1/queries/{query.pk}/close/", {"text": "Thanks"}, format="json")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert Query.objects.get().status == "closed"
    ae = nurse.post(
        f"/api/v1/patients/{patient.trial_number}/adverse-events/",
        {
            "term": "Nausea",
            "grade": 1,
            "onset_date": timezone.localdate().isoformat(),
            "ongoing": True,
            "causality_lutathera": "unrelated",
            "causality_amino_acids": "unrelated",
            "causality_procedures": "unrelated",
            "action_taken": "not_applicable",
            "outcome": "recovering",
        },
        format="json",
    )
    assert ae.status_code == 201, ae.json()
    serious = nurse.post(
        f"/api/v1/patients/{patient.trial_number}/adverse-events/",
        {**ae.json(), "serious": True, "criterion_hospitalisation": True, "aware_at": None},
        format="json",
    )
    assert serious.status_code == 400 and "aware_at" in serious.json()["fields"]


def test_rate_limit_answers_429_with_retry_after(world, monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import UserRateThrottle

    cache.clear()
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute"})  # restored after the test
    client = api(world.nurse_a)
    codes = [client.get("/api/v1/sites/").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[-1] == 429
    response = client.get("/api/v1/sites/")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert response.json()["code"] == "throttled"
    cache.clear()


def test_exports_for_the_data_manager(world, django_capture_on_commit_callbacks):
    dm = api(world.data_manager)
    with django_capture_on_commit_callbacks(execute=True):
        started = dm.post("/api/v1/exports/", format="json")
    assert started.status_code == 202
    export_id = started.json()["id"]
    status = dm.get(f"/api/v1/exports/{export_id}/").json()
    assert status["status"] == "done" and len(status["sha256"]) == 64
    download = dm.get(f"/api/v1/exports/{export_id}/download/")
    assert download.status_code == 200 and b"".join(download.streaming_content)[:2] == b"PK"
    assert api(world.nurse_a).get("/api/v1/exports/").status_code == 403


def test_schema_validates_and_documents_every_endpoint(client):
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    paths = schema["paths"]
    for path in (
        "/api/v1/sites/",
        "/api/v1/patients/",
        "/api/v1/patients/{trial_number}/randomise/",
        "/api/v1/patients/{trial_number}/forms/{form_code}/",
        "/api/v1/queries/{query_id}/{action}/",
        "/api/v1/exports/{export_id}/download/",
    ):
        assert path in paths, path
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert {"401", "404"} <= set(operation["responses"]), (path, method)
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_scripted_registration_consent_and_eligibility(world, consent_doc_api):
    from patients.models import Patient
    from tests.patients.factories import eligible_answers

    client = api(world.nurse_a)
    today = timezone.localdate()
    body = {
        "site": "GB01",
        "initials": "XY",
        "year_of_birth": 1962,
        "sex": "F",
        "liver_resection_date": (today - dt.timedelta(days=35)).isoformat(),
        "primary_resection_date": (today - dt.timedelta(days=35)).isoformat(),
        "consent": {"document_version": consent_doc_api.document_version, "consented_at": timezone.now().isoformat()},
    }
    created = client.post("/api/v1/patients/", body, format="json")
    assert created.status_code == 201, created.json()
    trial_number = created.json()["trial_number"]
    assert trial_number == "NEL-GB01-001" and created.json()["status"] == "consented"
    patient = Patient.objects.get(trial_number=trial_number)
    assert patient.history.first().history_user == world.nurse_a  # audited as the token's user
    # Registering at another site is 404; bad input is a per-field 400.
    assert client.post("/api/v1/patients/", body | {"site": "NL01"}, format="json").status_code == 404
    bad = client.post("/api/v1/patients/", body | {"sex": "X", "year_of_birth": "old"}, format="json")
    assert bad.status_code == 400 and {"sex", "year_of_birth"} <= set(bad.json()["fields"])
    answers = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in eligible_answers(patient).items()}
    url = f"/api/v1/patients/{trial_number}/eligibility/"
    saved = client.post(url, {"answers": answers, "version": 0}, format="json")
    assert saved.status_code == 200 and saved.json()["missing"] == []
    refused = client.post(f"/api/v1/patients/{trial_number}/randomise/", {}, format="json")
    assert refused.status_code == 400 and "eligib" in refused.json()["message"].lower()  # not confirmed yet


def test_eligibility_api_needs_the_version_and_the_date_and_refuses_a_stale_save(world):
    """Issue 19 finding 4: no version let a stale POST overwrite newer answers; no assessed_on was
    an IntegrityError (500). Each is a 400 naming the field, or a 409 for the stale version."""
    from tests.patients.factories import PatientFactory

    patient = PatientFactory(site=world.site_a)
    client = api(world.nurse_a)
    url = f"/api/v1/patients/{patient.trial_number}/eligibility/"
    today = timezone.localdate().isoformat()
    no_version = client.post(url, {"answers": {"assessed_on": today}}, format="json")
    assert no_version.status_code == 400 and "version" in no_version.json()["fields"]
    for answers in ({"ecog": 0}, {"assessed_on": None, "ecog": 0}, {"assessed_on": "", "ecog": 0}):
        no_date = client.post(url, {"answers": answers, "version": 0}, format="json")
        assert no_date.status_code == 400 and "assessed_on" in no_date.json()["fields"], no_date.json()
    first = client.post(url, {"answers": {"assessed_on": today, "ecog": 0}, "version": 0}, format="json")
    assert first.status_code == 200
    version = first.json()["version"]
    newer = client.post(url, {"answers": {"ecog": 1}, "version": version, "reason": "Re-assessed"}, format="json")
    assert newer.status_code == 200
    stale = client.post(url, {"answers": {"ecog": 0}, "version": version, "reason": "Old screen"}, format="json")
    assert stale.status_code == 409 and stale.json()["code"] == "edit_conflict"
    cleared = client.post(
        url, {"answers": {"assessed_on": None}, "version": newer.json()["version"], "reason": "x"}, format="json"
    )
    assert cleared.status_code == 400 and "assessed_on" in cleared.json()["fields"]
    patient.eligibility.refresh_from_db()
    assert patient.eligibility.ecog == 1 and str(patient.eligibility.assessed_on) == today


def test_the_eligibility_conflict_is_documented(client):
    schema = client.get("/api/schema/?format=json").json()
    responses = schema["paths"]["/api/v1/patients/{trial_number}/eligibility/"]["post"]["responses"]
    assert {"200", "400", "404", "409"} <= set(responses)


@pytest.fixture
def consent_doc_api(db):
    from tests.patients.factories import ConsentDocumentFactory

    return ConsentDocumentFactory()


pytestmark = requirement_marks(pytestmark, "URS-API-001", "URS-API-002", "URS-API-003")


def test_unknown_api_paths_answer_json_404(world):
    client = api(world.nurse_a)
    for path in ("/api/v1/nope/", "/api/v2/sites/", "/api/v1/patients/NEL-GB01-001/unknown/", "/api/x"):
        response = client.get(path)
        assert response.status_code == 404 and response["Content-Type"].startswith("application/json"), path
        assert response.json()["code"] == "not_found"


def test_an_unknown_filter_value_is_a_400_naming_the_parameter(world):
    client = api(world.data_manager)
    bad = client.get("/api/v1/queries/?status=AAA")
    assert bad.status_code == 400 and "status" in bad.json()["fields"]
    for ok in ("open", "answered", "closed", "all"):
        assert client.get(f"/api/v1/queries/?status={ok}").status_code == 200
