"""Casebook sign-off at end of study: the digest of what the PI's signature covers, kept up to date,
and the signature."""

from __future__ import annotations

import hashlib

from django.db import transaction

from accounts.models import User
from core.audit import record_create, record_update
from core.dataset_guard import dataset_write_guard
from core.errors import DomainError
from core.policy import Action, require
from core.signatures import SignedComposite, content_digest, signature_apply, signature_status, signature_verify
from crf.models import (
    Casebook,
    FormStatus,
    Query,
)
from crf.registry import FORMS
from patients.models import Consent, EligibilityAssessment, Patient, Withdrawal

# Casebook sign-off at end of study.

CASEBOOK_MEANING = "I approve the data in this casebook"


# Apps above crf (safety) name the records of a patient that the casebook sign-off covers; crf
# cannot import them (dependency direction), so each registers a function at start-up.
CASEBOOK_PARTS: list = []


def casebook_part_register(part) -> None:
    """``part(patient)`` yields (label, record) pairs to include in the casebook digest."""
    if part not in CASEBOOK_PARTS:
        CASEBOOK_PARTS.append(part)


def _patient_parts(patient: Patient):
    for label, model in (("consent", Consent), ("eligibility", EligibilityAssessment), ("withdrawal", Withdrawal)):
        for record in model.objects.filter(patient=patient).order_by("pk"):
            yield label, record


def _casebook_parts(patient: Patient):
    """(label, record) for every record of the patient the PI's sign-off covers, in a fixed order."""
    for code in sorted(FORMS):
        for form in FORMS[code].objects.filter(patient=patient).order_by("pk"):
            yield code, form
    for source in (_patient_parts, *CASEBOOK_PARTS):
        yield from source(patient)


def casebook_digest(patient: Patient, digest=content_digest) -> tuple[str, int]:
    """SHA-256 over the content digests of all of the patient's data the PI's sign-off covers
    (protocol "Locks and sign-off"): every CRF, eligibility, consent and withdrawal, and what the
    apps above register (AEs and SAE reports). ``digest`` computes each record's digest: by
    default over its whole current content, for a signature over the fields its manifest names."""
    parts = [f"{label}:{record.pk}:{digest(record)}" for label, record in _casebook_parts(patient)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest(), len(parts)


def _casebook_signed_content(casebook: Casebook, digest) -> dict:
    forms_digest, forms_count = casebook_digest(casebook.patient, digest)
    return {"forms_digest": forms_digest, "forms_count": forms_count}


# The casebook's signed content is its parts' content (core.signatures.SignedComposite): each
# signature is checked against the parts' fields it covered, computed afresh, so a change that did
# not pass through casebook_refresh shows too, and a column added to a form after the sign-off
# (a derived grade) does not void it. Registered in crf.apps.
CASEBOOK_SIGNED = SignedComposite(
    parts=lambda casebook: _casebook_parts(casebook.patient), content=_casebook_signed_content
)


def casebook_signature_status(patient: Patient) -> list:
    """The sign-off's signatures, each invalid as soon as any data it covers differ from what was
    signed, also when the change came through a path that does not refresh the casebook."""
    casebook = Casebook.objects.filter(patient=patient).first()
    if casebook is None:
        return []
    return signature_status(obj=casebook)


def casebook_refresh(*, patient: Patient, actor: User | None, reason: str) -> None:
    """After a form changed: bring the casebook's digest up to date, invalidating a stale signature."""
    casebook = Casebook.objects.filter(patient=patient).first()
    if casebook is None:
        return
    digest, count = casebook_digest(patient)
    if digest != casebook.forms_digest:
        record_update(obj=casebook, data={"forms_digest": digest, "forms_count": count}, actor=actor, reason=reason)


def casebook_blockers(patient: Patient) -> list[str]:
    """What stands in the way of the PI's sign-off."""
    blockers = []
    end = FORMS["end_of_study"].objects.filter(patient=patient).first()
    if end is None or end.status == FormStatus.IN_PROGRESS:
        blockers.append("The end of study form is not complete.")
    open_forms = sum(
        model.objects.filter(patient=patient, status=FormStatus.IN_PROGRESS).count() for model in FORMS.values()
    )
    if open_forms:
        blockers.append(f"{open_forms} form(s) still in progress.")
    queries = Query.objects.open().filter(patient=patient).count()
    if queries:
        blockers.append(f"{queries} query(ies) still open.")
    return blockers


def casebook_sign(
    *,
    patient: Patient,
    actor: User,
    password: str,
    otp_token: str = "",
    ip_address: str | None = None,
    username: str | None = None,
) -> Casebook:
    """The PI (or a delegated investigator) signs the patient's casebook with an e-signature."""
    require(actor, Action.CASEBOOK_SIGN, patient.site)
    dataset_write_guard(what="the casebook sign-off", soft_lock_allows=True)
    blockers = casebook_blockers(patient)
    if blockers:
        raise DomainError("Not ready to sign: " + " ".join(blockers))
    with transaction.atomic():
        digest, count = casebook_digest(patient)
        casebook = Casebook.objects.filter(patient=patient).first()
        if casebook is None:
            casebook = record_create(
                obj=Casebook(patient=patient, forms_digest=digest, forms_count=count),
                actor=actor,
                reason="Casebook opened for sign-off",
            )
        elif casebook.forms_digest != digest:
            casebook = record_update(
                obj=casebook, data={"forms_digest": digest, "forms_count": count}, actor=actor, reason="Sign-off"
            )
    # Outside the transaction: a refused signature must leave its audit record behind.
    signature_verify(
        user=actor,
        password=password,
        meaning=CASEBOOK_MEANING,
        obj=casebook,
        ip_address=ip_address,
        otp_token=otp_token,
        username=username,
    )
    signature_apply(user=actor, meaning=CASEBOOK_MEANING, obj=casebook, ip_address=ip_address)
    return casebook
