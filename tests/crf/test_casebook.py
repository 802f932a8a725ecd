"""PI sign-off of the casebook at end of study: e-signature, blockers, invalidation by a change."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from core.errors import DomainError, NotPermitted
from core.signatures import SignatureRefused, signature_status
from crf import services
from crf.models import Casebook, Demographics, EndOfStudy, FormStatus
from tests.crf.factories import scheduled_patient
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(world):
    """A patient whose forms are complete and whose end-of-study form is done."""
    patient = scheduled_patient(world.site_a, arm="A")
    rand = patient.visits.get(code="RAND")
    demo = services.crf_save(
        model=Demographics,
        visit=rand,
        data={"ethnicity": "white", "height_cm": Decimal("170"), "weight_kg": Decimal("70")},
        actor=world.nurse_a,
    )
    services.crf_mark_complete(form=demo, actor=world.nurse_a)
    end = services.crf_save(
        model=EndOfStudy,
        visit=patient.visits.get(code="FU36"),
        data={"end_date": timezone.localdate() - dt.timedelta(days=1), "reason": "withdrawal", "recurrence_free": True},
        actor=world.nurse_a,
    )
    services.crf_mark_complete(form=end, actor=world.nurse_a)
    return patient


def test_blockers_before_sign_off(world):
    patient = scheduled_patient(world.site_a)
    blockers = services.casebook_blockers(patient)
    assert "The end of study form is not complete." in blockers
    with pytest.raises(DomainError, match="Not ready to sign"):
        services.casebook_sign(patient=patient, actor=world.pi_a, password="correct-horse-battery-staple")


def test_only_an_investigator_signs_and_the_password_is_checked(world, finished, password):
    with pytest.raises(NotPermitted):
        services.casebook_sign(patient=finished, actor=world.nurse_a, password=password)
    with pytest.raises(SignatureRefused):
        services.casebook_sign(patient=finished, actor=world.pi_a, password="wrong")
    casebook = services.casebook_sign(patient=finished, actor=world.pi_a, password=password)
    [(signature, valid)] = signature_status(obj=casebook)
    assert valid and signature.meaning == "I approve the data in this casebook"
    assert signature.signer_name == world.pi_a.get_full_name()


def test_a_change_after_sign_off_invalidates_the_signature_visibly_and_in_the_audit(client, world, finished, password):
    casebook = services.casebook_sign(patient=finished, actor=world.pi_a, password=password)
    services.crf_verify(form=Demographics.objects.get(patient=finished), actor=world.monitor)
    services.crf_lock(form=Demographics.objects.get(patient=finished), actor=world.data_manager)
    # Verification and locking are not data: the signature still holds.
    assert signature_status(obj=Casebook.objects.get(pk=casebook.pk))[0][1]
    services.crf_unlock(form=Demographics.objects.get(patient=finished), actor=world.data_manager, reason="Late fix")
    services.crf_save(
        model=Demographics,
        visit=finished.visits.get(code="RAND"),
        data={"weight_kg": Decimal("71")},
        actor=world.nurse_a,
        reason="Weight from clinic letter",
    )
    [(signature, valid)] = signature_status(obj=Casebook.objects.get(pk=casebook.pk))
    assert not valid and "Weight from clinic letter" in signature.invalidated_reason
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.SIGNATURE_INVALIDATED, target_id=str(casebook.pk))
    assert event.actor == world.nurse_a
    client.force_login(world.pi_a)
    page = client.get(reverse("crf:casebook", args=[finished.trial_number])).content.decode()
    assert "Signature invalidated" in page and "Weight from clinic letter" in page


def test_sign_off_through_the_page(client, world, finished, password):
    client.force_login(world.pi_a)
    url = reverse("crf:casebook", args=[finished.trial_number])
    assert b"Electronic signature" in client.get(url).content
    # The first signature of the session asks for the user id too (21 CFR 11.200(a)(1)(i)).
    response = client.post(url, {"password": password, "accept": "on"})
    assert response.status_code == 200 and "Your user id" in response.content.decode()
    assert not Casebook.objects.filter(patient=finished).exists()
    response = client.post(url, {"username": world.pi_a.username, "password": "nope", "accept": "on"})
    assert response.status_code == 200 and not signature_status(obj=Casebook.objects.get(patient=finished))
    response = client.post(url, {"username": world.pi_a.username, "password": password, "accept": "on"})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "I approve the data in this casebook" in page and world.pi_a.get_full_name() in page and "UTC" in page
    client.force_login(world.nurse_a)
    assert b"Electronic signature" not in client.get(url).content
    assert client.post(url, {"password": password, "accept": "on"}).status_code == 403
    assert Demographics.objects.get(patient=finished).status == FormStatus.COMPLETE


pytestmark = requirement_marks(pytestmark, "URS-SIG-003", "URS-SIG-002")
