"""Electronic signatures: re-authentication, manifestation, binding to content, invalidation."""

import types

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from accounts.models import AuditEvent, Signature
from core import signatures
from core.audit import record_update
from core.signatures import SignatureRefused, content_digest, signature_sign, signature_status
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db

MEANING = "I approve the data in this record"


def test_signature_records_name_time_meaning_and_content_hash(world, password):
    sig = signature_sign(user=world.pi_a, password=password, meaning=MEANING, obj=world.site_a)
    assert sig.signer_name == world.pi_a.full_name
    assert sig.meaning == MEANING
    assert sig.signed_at.utcoffset().total_seconds() == 0
    assert sig.content_hash == content_digest(world.site_a) and len(sig.content_hash) == 64
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGNED, actor=world.pi_a).exists()
    assert signature_status(obj=world.site_a) == [(sig, True)]


def test_change_after_signing_invalidates_the_signature_with_the_reason(world, password):
    sig = signature_sign(user=world.pi_a, password=password, meaning=MEANING, obj=world.site_a)
    record_update(obj=world.site_a, data={"recruitment_target": 40}, actor=world.trial_manager, reason="Target amended")
    sig.refresh_from_db()
    assert sig.invalidated_at is not None
    assert "Target amended" in sig.invalidated_reason
    assert sig.invalidated_by == world.trial_manager
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.SIGNATURE_INVALIDATED)
    assert event.reason == "Target amended" and world.pi_a.full_name in event.summary
    assert signature_status(obj=world.site_a) == [(sig, False)]


def test_change_outside_the_services_still_shows_as_invalid(world, password):
    signature_sign(user=world.pi_a, password=password, meaning=MEANING, obj=world.site_a)
    type(world.site_a).objects.filter(pk=world.site_a.pk).update(name="Edited behind the EDC's back")
    world.site_a.refresh_from_db()
    [(_sig, valid)] = signature_status(obj=world.site_a)
    assert valid is False


def test_wrong_password_signs_nothing_and_is_audited(world):
    with pytest.raises(SignatureRefused) as exc:
        signature_sign(user=world.pi_a, password="wrong", meaning=MEANING, obj=world.site_a)
    assert exc.value.field == "password"
    assert not Signature.objects.exists()
    failed = AuditEvent.objects.get(kind=AuditEvent.Kind.SIGNATURE_FAILED)
    assert failed.actor == world.pi_a and failed.target_id == str(world.site_a.pk)


@override_settings(SIGNATURE_FAILURE_LIMIT=3)
def test_repeated_failures_block_signing_even_with_the_right_password(world, password):
    for _ in range(3):
        with pytest.raises(SignatureRefused):
            signature_sign(user=world.pi_a, password="wrong", meaning=MEANING, obj=world.site_a)
    with pytest.raises(SignatureRefused, match="Too many failed signature attempts"):
        signature_sign(user=world.pi_a, password=password, meaning=MEANING, obj=world.site_a)
    assert not Signature.objects.exists()


def test_inactive_user_cannot_sign(world, password):
    world.pi_a.is_active = False
    world.pi_a.save()
    with pytest.raises(SignatureRefused):
        signature_sign(user=world.pi_a, password=password, meaning=MEANING, obj=world.site_a)


pytestmark = requirement_marks(pytestmark, "URS-SIG-001", "URS-SIG-002")


def test_signing_fails_closed_without_a_registered_second_factor(monkeypatch):
    """21 CFR 11.200(a)(1): core cannot tell whether the signer has a second factor unless accounts
    registered its check; it refuses rather than let a signature through on the password alone."""
    monkeypatch.setattr(signatures, "_SECOND_FACTOR", [])
    with pytest.raises(ImproperlyConfigured):
        signatures.signer_has_second_factor(types.SimpleNamespace(pk=1))
