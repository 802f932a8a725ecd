"""Registration: who may register where, trial numbers, consent versions, bad input."""

import datetime as dt
import threading

import pytest
from django.db import close_old_connections, connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from core.errors import DomainError, NotPermitted
from patients import services
from patients.models import Consent, Patient, ScreeningEntry
from sites.models import Site
from tests.accounts.factories import UserFactory
from tests.patients.factories import ConsentDocumentFactory
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


def _data(**overrides):
    data = {
        "initials": "JS",
        "year_of_birth": 1960,
        "sex": "F",
        "liver_resection_date": TODAY() - dt.timedelta(days=40),
        "primary_resection_date": TODAY() - dt.timedelta(days=40),
    }
    data.update(overrides)
    return data


def _consent(document, **overrides):
    consent = {
        "document": document,
        "consented_at": timezone.now() - dt.timedelta(hours=2),
        "samples_biobank": True,
        "tissue": False,
        "future_research": True,
        "gp_letter": True,
    }
    consent.update(overrides)
    return consent


def test_registration_gives_the_next_number_of_the_site_and_records_consent(world, consent_doc):
    first = services.patient_register(
        actor=world.nurse_a, site=world.site_a, data=_data(), consent=_consent(consent_doc)
    )
    second = services.patient_register(
        actor=world.nurse_a, site=world.site_a, data=_data(initials="AB"), consent=_consent(consent_doc)
    )
    other_site = services.patient_register(
        actor=world.nurse_b, site=world.site_b, data=_data(), consent=_consent(consent_doc)
    )
    assert [first.trial_number, second.trial_number, other_site.trial_number] == [
        "NEL-GB01-001",
        "NEL-GB01-002",
        "NEL-NL01-001",
    ]
    consent = Consent.objects.get(patient=first)
    assert consent.taken_by == world.nurse_a and consent.samples_biobank and not consent.tissue
    assert first.status == Patient.Status.CONSENTED
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.PATIENT_REGISTERED, target_id=str(first.pk)).exists()


@pytest.mark.parametrize("status", [Site.Status.PENDING, Site.Status.ON_HOLD, Site.Status.CLOSED])
def test_no_registration_at_a_site_that_is_not_active(world, consent_doc, status):
    Site.objects.filter(pk=world.site_a.pk).update(status=status)
    world.site_a.refresh_from_db()
    with pytest.raises(DomainError, match="cannot register patients"):
        services.patient_register(actor=world.nurse_a, site=world.site_a, data=_data(), consent=_consent(consent_doc))
    assert not Patient.objects.exists()


def test_no_registration_without_a_delegation_at_the_site(world, consent_doc):
    for actor in (world.nurse_b, world.trial_manager, UserFactory()):
        with pytest.raises(NotPermitted):
            services.patient_register(actor=actor, site=world.site_a, data=_data(), consent=_consent(consent_doc))
    assert not Patient.objects.exists()


def test_the_register_page_is_refused_to_staff_of_other_sites(client, world, consent_doc):
    client.force_login(world.nurse_b)
    assert client.get(reverse("patients:patient_register", kwargs={"code": "GB01"})).status_code == 404


def test_consent_on_an_expired_version_is_refused_at_the_field(client, world):
    expired = ConsentDocumentFactory(
        document_version="2.0", valid_from=TODAY() - dt.timedelta(days=400), valid_to=TODAY() - dt.timedelta(days=30)
    )
    client.force_login(world.nurse_a)
    response = client.post(
        reverse("patients:patient_register", kwargs={"code": "GB01"}),
        {
            "initials": "js",
            "year_of_birth": "1960",
            "sex": "F",
            "liver_resection_date": (TODAY() - dt.timedelta(days=40)).isoformat(),
            "primary_resection_date": (TODAY() - dt.timedelta(days=40)).isoformat(),
            "document": expired.pk,
            "consented_at": (timezone.localtime() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    errors = response.context["form"].errors["document"]
    assert "Version 2.0 of the consent form was not valid on" in str(errors)
    assert b'value="js"' in response.content or b'value="JS"' in response.content
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("liver_resection_date", "future", "in the future"),
        ("primary_resection_date", "future", "in the future"),
        ("year_of_birth", str(timezone.localdate().year - 16), "under 18"),
        ("initials", "J1", "Two or three letters"),
        ("year_of_birth", "nineteen sixty", "whole number"),
    ],
)
def test_bad_input_gets_a_message_next_to_the_field_and_keeps_what_was_typed(
    client, world, consent_doc, field, value, message
):
    if value == "future":
        value = (TODAY() + dt.timedelta(days=3)).isoformat()
    data = {
        "initials": "JS",
        "year_of_birth": "1960",
        "sex": "F",
        "liver_resection_date": (TODAY() - dt.timedelta(days=40)).isoformat(),
        "primary_resection_date": (TODAY() - dt.timedelta(days=40)).isoformat(),
        "document": consent_doc.pk,
        "consented_at": (timezone.localtime() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "samples_biobank": "on",
        field: value,
    }
    client.force_login(world.nurse_a)
    response = client.post(reverse("patients:patient_register", kwargs={"code": "GB01"}), data)
    assert response.status_code == 200
    assert message in str(response.context["form"].errors[field])
    assert f'value="{value}"'.encode() in response.content
    assert (
        b'name="samples_biobank" class="checkboxinput form-check-input" id="id_samples_biobank" checked'
        in (response.content)
        or b"checked" in response.content
    )
    assert not Patient.objects.exists()


def test_primary_resected_after_the_liver_is_refused(world, consent_doc):
    with pytest.raises(DomainError) as exc:
        services.patient_register(
            actor=world.nurse_a,
            site=world.site_a,
            consent=_consent(consent_doc),
            data=_data(primary_resection_date=TODAY() - dt.timedelta(days=10)),
        )
    assert exc.value.field == "primary_resection_date"


def test_possible_duplicate_is_flagged_until_the_nurse_confirms(world, consent_doc):
    first = services.patient_register(
        actor=world.nurse_a, site=world.site_a, data=_data(), consent=_consent(consent_doc)
    )
    with pytest.raises(DomainError) as exc:
        services.patient_register(actor=world.nurse_a, site=world.site_a, data=_data(), consent=_consent(consent_doc))
    assert exc.value.code == "possible_duplicate" and first.trial_number in exc.value.message
    second = services.patient_register(
        actor=world.nurse_a,
        site=world.site_a,
        data=_data(),
        consent=_consent(consent_doc),
        confirm_possible_duplicate=True,
    )
    assert second.trial_number == "NEL-GB01-002"


def test_possible_duplicate_is_flagged_on_the_form_and_confirmed_with_the_tick(client, world, consent_doc):
    data = {
        "initials": "JS",
        "year_of_birth": "1960",
        "sex": "F",
        "liver_resection_date": (TODAY() - dt.timedelta(days=40)).isoformat(),
        "primary_resection_date": (TODAY() - dt.timedelta(days=40)).isoformat(),
        "document": consent_doc.pk,
        "consented_at": (timezone.localtime() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    url = reverse("patients:patient_register", kwargs={"code": "GB01"})
    client.force_login(world.nurse_a)
    assert client.post(url, data).status_code == 302
    again = client.post(url, data)
    page = again.content.decode()
    assert again.status_code == 200 and "NEL-GB01-001" in page and "Not a duplicate" in page
    assert 'value="JS"' in page and Patient.objects.count() == 1  # the typed values are kept
    assert client.post(url, data | {"not_a_duplicate": "on"}).status_code == 302
    assert Patient.objects.count() == 2


def test_registration_links_the_screening_entry(world, consent_doc):
    entry = services.screening_log_add(
        actor=world.nurse_a,
        site=world.site_a,
        data={
            "screened_on": TODAY(),
            "age": 60,
            "sex": "F",
            "eligible": True,
            "not_randomised_reason": "",
            "reason_detail": "",
        },
    )
    patient = services.patient_register(
        actor=world.nurse_a, site=world.site_a, data=_data(), consent=_consent(consent_doc), screening=entry
    )
    entry.refresh_from_db()
    assert entry.patient == patient


def test_screen_failures_need_a_reason(world):
    with pytest.raises(DomainError) as exc:
        services.screening_log_add(
            actor=world.nurse_a,
            site=world.site_a,
            data={
                "screened_on": TODAY(),
                "age": 60,
                "sex": "F",
                "eligible": False,
                "not_randomised_reason": "",
                "reason_detail": "",
            },
        )
    assert exc.value.field == "not_randomised_reason"
    services.screening_log_add(
        actor=world.nurse_a,
        site=world.site_a,
        data={
            "screened_on": TODAY(),
            "age": 60,
            "sex": "F",
            "eligible": False,
            "not_randomised_reason": "declined",
            "reason_detail": "Travel",
        },
    )
    assert ScreeningEntry.objects.visible_to(world.nurse_a).count() == 1
    assert ScreeningEntry.objects.visible_to(world.nurse_b).count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_at_one_site_get_distinct_consecutive_numbers(world):
    document = ConsentDocumentFactory()
    nurses = [world.nurse_a] + [UserFactory() for _ in range(5)]
    from tests.sites.factories import DelegationFactory

    for nurse in nurses[1:]:
        DelegationFactory(site=world.site_a, user=nurse)
    barrier = threading.Barrier(len(nurses))
    numbers, errors = [], []

    def register(nurse, i):
        try:
            nurse = type(nurse).objects.get(pk=nurse.pk)
            barrier.wait(timeout=10)
            patient = services.patient_register(
                actor=nurse,
                site=Site.objects.get(pk=world.site_a.pk),
                data=_data(initials="AB", year_of_birth=1950 + i),
                consent=_consent(document),
            )
            numbers.append(patient.trial_number)
        except Exception as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=register, args=(n, i)) for i, n in enumerate(nurses)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(numbers) == [f"NEL-GB01-{i:03d}" for i in range(1, len(nurses) + 1)]


pytestmark = requirement_marks(pytestmark, "URS-PAT-001", "URS-PAT-002", "URS-PAT-005", "URS-SITE-001", "URS-SITE-002")


@pytest.mark.django_db(transaction=True)
def test_parallel_registrations_of_one_screening_entry_with_the_duplicate_tick_make_one_patient(world):
    """Issue 19 finding 7: three parallel posts with "not a duplicate" made three patients."""
    document = ConsentDocumentFactory()
    entry = services.screening_log_add(
        actor=world.nurse_a,
        site=world.site_a,
        data={"screened_on": TODAY(), "age": 60, "sex": "F", "eligible": True, "not_randomised_reason": ""},
    )
    barrier = threading.Barrier(3)
    numbers, errors = [], []

    def register():
        try:
            nurse = type(world.nurse_a).objects.get(pk=world.nurse_a.pk)
            barrier.wait(timeout=10)
            patient = services.patient_register(
                actor=nurse,
                site=Site.objects.get(pk=world.site_a.pk),
                data=_data(),
                consent=_consent(document),
                screening=ScreeningEntry.objects.get(pk=entry.pk),
                confirm_possible_duplicate=True,
            )
            numbers.append(patient.trial_number)
        except Exception as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=register) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert numbers == ["NEL-GB01-001"] * 3
    assert Patient.objects.count() == 1 and Consent.objects.count() == 1
    entry.refresh_from_db()
    assert entry.patient.trial_number == "NEL-GB01-001"


def test_a_screening_entry_of_another_patient_is_refused(world, consent_doc):
    entry = services.screening_log_add(
        actor=world.nurse_a,
        site=world.site_a,
        data={"screened_on": TODAY(), "age": 60, "sex": "F", "eligible": True, "not_randomised_reason": ""},
    )
    services.patient_register(
        actor=world.nurse_a, site=world.site_a, data=_data(), consent=_consent(consent_doc), screening=entry
    )
    with pytest.raises(DomainError) as exc:
        services.patient_register(
            actor=world.nurse_a,
            site=world.site_a,
            data=_data(initials="ZZ"),
            consent=_consent(consent_doc),
            screening=ScreeningEntry.objects.get(pk=entry.pk),
            confirm_possible_duplicate=True,
        )
    assert exc.value.field == "screening" and Patient.objects.count() == 1
