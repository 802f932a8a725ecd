"""PI sign-off of the casebook at end of study: e-signature, blockers, invalidation by a change."""

import datetime as dt
import hashlib
import json
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Signature
from core.audit import content_fields, record_create
from core.errors import DomainError, NotPermitted
from core.signatures import SignatureRefused, plain_value, signature_status
from crf import services
from crf.backfill import derived_values_backfill
from crf.models import Casebook, Demographics, EndOfStudy, FormStatus, Laboratory
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


# What the casebook sign-off covers (issue 23 decision; 21 CFR 11.70, 11.50): the content of the
# patient's records as signed. A derived column added to a form afterwards (crf 0008's CTCAE grades,
# filled in by the backfill) is not covered and does not void the sign-off; it is shown as "derived
# after signing, not covered by the signature". A derived value present at signing is covered.

CRF_0008 = ("crf", "0008_lab_units_ctcae_grades_reference_ranges_recurrence_repeating")


def _schema_at(when):
    """Each model's field attnames as this database's schema stood at ``when``: the migration state of
    the migrations applied by then (rendered by Django's migration graph, not read from the code under
    test, which reads AddField operations)."""
    loader = MigrationLoader(connection)
    applied = MigrationRecorder(connection).migration_qs.filter(applied__lte=when).values_list("app", "name")
    state = loader.graph.make_state(nodes=[n for n in applied if n in loader.graph.nodes], at_end=True)
    # A state's fields are unbound (no name of their own): a foreign key's column is "<name>_id".
    return {
        key: {f"{name}_id" if f.many_to_one or f.one_to_one else name for name, f in model.fields.items()}
        for key, model in state.models.items()
    }


def _digest(label, pk, content) -> str:
    canonical = json.dumps(
        {"model": label, "pk": str(pk), "content": content}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _digest_then(record, schema) -> str:
    """A record's digest over the fields it had in ``schema`` (what a signature of that time hashed)."""
    then = schema[(record._meta.app_label, record._meta.model_name)]
    keys = [f.attname for f in content_fields(record) if f.attname in then]
    return _digest(record._meta.label_lower, record.pk, {k: plain_value(getattr(record, k)) for k in keys})


def _with_pre_0008_panel(patient, nurse):
    lab = services.crf_save(
        model=Laboratory,
        visit=patient.visits.get(code="RAND"),
        data={"sample_date": timezone.localdate(), "platelets": Decimal(60)},
        actor=nurse,
    )
    Laboratory.objects.filter(pk=lab.pk).update(**dict.fromkeys(Laboratory.DERIVED_FIELDS))
    return lab


def _legacy_sign_off(patient, pi):
    """The sign-off as the old code recorded it just before this database applied crf 0008: the
    casebook's digest over every part's fields of that time, the signature without a manifest."""
    signed_at = MigrationRecorder(connection).migration_qs.get(app=CRF_0008[0], name=CRF_0008[1]).applied
    signed_at -= dt.timedelta(microseconds=1)
    schema = _schema_at(signed_at)
    forms_digest, count = services.casebook_digest(patient, digest=lambda record: _digest_then(record, schema))
    casebook = record_create(
        obj=Casebook(patient=patient, forms_digest=forms_digest, forms_count=count), actor=pi, reason="Sign-off"
    )
    return Signature.objects.create(
        signer=pi,
        signer_name=pi.get_full_name(),
        signer_username=pi.username,
        meaning=services.CASEBOOK_MEANING,
        signed_at=signed_at,
        content_type=ContentType.objects.get_for_model(Casebook),
        object_id=str(casebook.pk),
        content_hash=_digest_then(casebook, schema),
    )


def test_a_new_sign_off_covers_the_derived_values_present_at_signing(world, finished, password):
    casebook = services.casebook_sign(patient=finished, actor=world.pi_a, password=password)
    [(signature, valid)] = signature_status(obj=casebook)
    assert valid and "bmi" in signature.covered_fields["crf.demographics"]
    assert "weight_kg" in signature.covered_fields["crf.demographics"]
    # BMI 70 / 1.70² = 24.2; a recomputed BMI that differs is a change to signed content.
    Demographics.objects.filter(patient=finished).update(bmi=Decimal("24.3"))
    [(_signature, valid)] = services.casebook_signature_status(finished)
    assert not valid


def test_a_legacy_sign_off_survives_the_grade_backfill_and_the_page_says_what_it_does_not_cover(
    client, world, finished
):
    lab = _with_pre_0008_panel(finished, world.nurse_a)
    legacy = _legacy_sign_off(finished, world.pi_a)
    assert legacy.covered_fields is None
    [(_signature, valid)] = services.casebook_signature_status(finished)
    assert valid

    derived_values_backfill()  # CTCAE v5.0: platelets 60 ×10⁹/L is grade 2 (< 75–50)

    lab.refresh_from_db()
    legacy.refresh_from_db()
    assert lab.platelets_grade == 2 and legacy.invalidated_at is None
    [(signature, valid)] = services.casebook_signature_status(finished)
    assert valid
    assert any(n.derived and n.field == "CTCAE v5 grade: Platelet count decreased" for n in signature.not_covered)
    client.force_login(world.pi_a)
    page = client.get(reverse("crf:casebook", args=[finished.trial_number])).content.decode()
    assert "Signature invalidated" not in page and ">Signed<" in page
    assert "CTCAE v5 grade: Platelet count decreased: 2" in page
    assert "derived after signing, not covered by the signature" in page


def test_a_legacy_sign_off_over_changed_content_is_invalid(client, world, finished):
    lab = _with_pre_0008_panel(finished, world.nurse_a)
    legacy = _legacy_sign_off(finished, world.pi_a)
    assert services.casebook_signature_status(finished)[0][1]  # valid until the change
    services.crf_save(
        model=Laboratory,
        visit=lab.visit,
        data={"platelets": Decimal(45)},
        actor=world.nurse_a,
        reason="Repeat count",
    )
    legacy.refresh_from_db()
    assert legacy.invalidated_at is not None and "Repeat count" in legacy.invalidated_reason
    [(_signature, valid)] = services.casebook_signature_status(finished)
    assert not valid
    client.force_login(world.pi_a)
    page = client.get(reverse("crf:casebook", args=[finished.trial_number])).content.decode()
    assert "Signature invalidated" in page and "Repeat count" in page
