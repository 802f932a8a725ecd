"""Electronic signatures: re-authentication, manifestation, binding to content, invalidation."""

import datetime as dt
import hashlib
import json
import types
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings
from django.utils import timezone

from accounts.models import AuditEvent, Signature
from core import signatures
from core.audit import content_fields, record_update
from core.signatures import SignatureRefused, content_digest, plain_value, signature_sign, signature_status
from crf import services as crf_services
from crf.backfill import derived_values_backfill
from crf.models import Laboratory
from tests.crf.factories import scheduled_patient
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


# What a signature covers (issue 23 decision; 21 CFR 11.70: the signature is linked to its record so
# that it cannot be excised or transferred; 11.50: the signed record shows what was signed). A
# signature covers exactly the content it was applied to: it records the fields it covers, and a field
# added to the model afterwards (a new derived column) is not covered and does not void it; a change
# to any covered field does, as before.

# The fields crf migration 0008 (lab units, CTCAE grades) added to the laboratory form, copied by hand
# from crf/migrations/0008_lab_units_ctcae_grades_reference_ranges_recurrence_repeating.py. A
# signature taken before that migration hashed the panel without them.
LAB_FIELDS_ADDED_BY_CRF_0008 = {
    *(f"{a}_grade" for a in ("haemoglobin", "wbc", "anc", "lymphocytes", "platelets", "creatinine", "alt", "ast")),
    *(f"{a}_grade" for a in ("alp", "bilirubin", "albumin", "inr")),
    *(f"{a}_si" for a in ("haemoglobin", "creatinine", "albumin", "bilirubin")),
    *(f"{a}_unit" for a in ("haemoglobin", "creatinine", "albumin", "bilirubin")),
    *(f"{a}_uln" for a in ("creatinine", "alt", "ast", "alp")),
    "albumin_lln",
    "wbc_lln",
}
CRF_0008 = ("crf", "0008_lab_units_ctcae_grades_reference_ranges_recurrence_repeating")


def _hand_digest(obj, keys) -> str:
    """SHA-256 of the canonical JSON of ``obj``'s values under ``keys``, built here, not by the code."""
    content = {key: plain_value(getattr(obj, key)) for key in keys}
    canonical = json.dumps(
        {"model": obj._meta.label_lower, "pk": str(obj.pk), "content": content},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _content_keys(obj) -> list[str]:
    return sorted(f.attname for f in content_fields(obj))


def _signature_row(obj, signer, *, keys, manifest=True, signed_at=None) -> Signature:
    """A signature row as an earlier signing wrote it: over ``keys`` only, with or without the manifest
    (rows from before manifests were recorded have none)."""
    return Signature.objects.create(
        signer=signer,
        signer_name=signer.get_full_name(),
        signer_username=signer.username,
        meaning=MEANING,
        signed_at=signed_at or timezone.now(),
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        content_hash=_hand_digest(obj, keys),
        covered_fields={obj._meta.label_lower: sorted(keys)} if manifest else None,
    )


def _valid(obj, signature) -> bool:
    return dict(signature_status(obj=type(obj).objects.get(pk=obj.pk)))[signature]


def test_a_new_signature_records_the_fields_it_covers_and_hashes_exactly_those(world, password):
    sig = signature_sign(user=world.pi_a, password=password, meaning=MEANING, obj=world.site_a)
    keys = _content_keys(world.site_a)
    assert "planned_activation_date" in keys and "recruitment_target" in keys and "id" not in keys
    assert sig.covered_fields == {"sites.site": keys}
    assert sig.content_hash == _hand_digest(world.site_a, keys)


def test_a_field_outside_the_manifest_may_change_a_covered_one_may_not(world, password):
    site = world.site_a
    current = signature_sign(user=world.pi_a, password=password, meaning=MEANING, obj=site)
    # Signed when the site had no planned activation date column: a manifest without it.
    earlier = _signature_row(site, world.pi_a, keys=set(_content_keys(site)) - {"planned_activation_date"})
    record_update(
        obj=site, data={"planned_activation_date": dt.date(2026, 3, 2)}, actor=world.trial_manager, reason="Planned"
    )
    current.refresh_from_db()
    earlier.refresh_from_db()
    assert current.invalidated_at is not None  # it covered the date, which changed
    assert earlier.invalidated_at is None and _valid(site, earlier)
    [not_covered] = next(s for s, _v in signature_status(obj=site) if s == earlier).not_covered
    assert (not_covered.field, not_covered.value, not_covered.derived) == (
        "planned activation date",
        dt.date(2026, 3, 2),
        False,
    )

    record_update(obj=site, data={"recruitment_target": 41}, actor=world.trial_manager, reason="Target amended")
    earlier.refresh_from_db()
    assert earlier.invalidated_at is not None and "Target amended" in earlier.invalidated_reason
    assert not _valid(site, earlier)
    assert AuditEvent.objects.filter(
        kind=AuditEvent.Kind.SIGNATURE_INVALIDATED, detail__signature_id=earlier.pk, reason="Target amended"
    ).exists()


def _crf_0008_applied_at():
    return MigrationRecorder(connection).migration_qs.get(app=CRF_0008[0], name=CRF_0008[1]).applied


def _pre_0008_panel(world):
    """A laboratory panel as saved before crf 0008: its entries, none of the derived values."""
    patient = scheduled_patient(world.site_a, arm="A")
    lab = crf_services.crf_save(
        model=Laboratory,
        visit=patient.visits.get(code="RAND"),
        data={"sample_date": timezone.localdate(), "platelets": Decimal(60), "haemoglobin": Decimal(120)},
        actor=world.nurse_a,
    )
    Laboratory.objects.filter(pk=lab.pk).update(**dict.fromkeys(Laboratory.DERIVED_FIELDS))
    lab.refresh_from_db()
    return lab


def _legacy_signature(world, lab, *, signed_at=None, **overrides):
    """A signature row from before manifests: no covered_fields, its hash over every field the panel
    had then (today's minus the ones crf 0008 added), signed just before this database applied 0008."""
    keys = set(_content_keys(lab)) - LAB_FIELDS_ADDED_BY_CRF_0008
    assert set(_content_keys(lab)) > LAB_FIELDS_ADDED_BY_CRF_0008  # the hand list names real fields
    signed_at = signed_at or _crf_0008_applied_at() - dt.timedelta(microseconds=1)
    as_signed = Laboratory.objects.get(pk=lab.pk)
    for name, value in overrides.items():
        setattr(as_signed, name, value)
    return _signature_row(as_signed, world.pi_a, keys=keys, manifest=False, signed_at=signed_at)


def test_a_legacy_signature_survives_the_backfill_of_grades_it_never_covered(world):
    lab = _pre_0008_panel(world)
    legacy = _legacy_signature(world, lab)
    assert legacy.covered_fields is None and _valid(lab, legacy)

    derived_values_backfill()  # CTCAE v5.0: platelets 60 ×10⁹/L is grade 2 (< 75–50)

    lab.refresh_from_db()
    legacy.refresh_from_db()
    assert lab.platelets_grade == 2
    assert legacy.invalidated_at is None and _valid(lab, legacy)
    [(signature, _valid_too)] = signature_status(obj=lab)
    shown = {(n.field, n.value) for n in signature.not_covered if n.derived}
    assert ("CTCAE v5 grade: Platelet count decreased", 2) in shown
    assert ("haemoglobin (SI)", Decimal("120.0")) in shown
    # Columns crf 0008 added with a default are not derived, and not covered either; the label every
    # analyte's unit shares is told apart by the field's name.
    entered = {(n.field, n.value) for n in signature.not_covered if not n.derived}
    assert ("haemoglobin unit", "g/L") in entered


def test_a_legacy_signature_over_changed_content_is_invalid(world):
    lab = _pre_0008_panel(world)
    # The stored panel no longer says what was signed (platelets 60, signed as 80), changed behind
    # the services' back: shown invalid although nobody marked it.
    tampered = _legacy_signature(world, lab, platelets=Decimal(80))
    assert not _valid(lab, tampered)

    # Through the services a covered change marks the legacy signature invalidated, with the reason.
    legacy = _legacy_signature(world, lab)
    assert _valid(lab, legacy)
    record_update(obj=lab, data={"platelets": Decimal(55)}, actor=world.nurse_a, reason="Transcription error")
    legacy.refresh_from_db()
    assert legacy.invalidated_at is not None and "Transcription error" in legacy.invalidated_reason
    assert not _valid(lab, legacy)


def test_a_legacy_signature_taken_after_the_columns_existed_covered_them(world):
    """Signed after 0008 was applied, the old code hashed the grade columns too: a digest without them
    is not what it signed, so it does not verify (the schema history is read, not guessed)."""
    lab = _pre_0008_panel(world)
    after = _legacy_signature(world, lab, signed_at=timezone.now())
    assert not _valid(lab, after)
    hashed_all = _signature_row(lab, world.pi_a, keys=_content_keys(lab), manifest=False, signed_at=timezone.now())
    assert _valid(lab, hashed_all)
