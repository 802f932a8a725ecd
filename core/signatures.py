"""Electronic signatures: one service used by eligibility confirmation, casebook and SAE sign-off.

21 CFR Part 11 §11.50 (manifestation: printed name, date/time, meaning), §11.70 (signature linked to
its record so it cannot be transferred) and §11.200 (two components: identity and password, re-entered
at each signing). Failed attempts are audited and rate-limited.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import connection, models, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import AddField
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from accounts.models import AuditEvent, Signature

from .audit import audit_event_record, content_fields
from .errors import DomainError

if TYPE_CHECKING:
    from accounts.models import User


class SignatureRefused(DomainError):
    code = "signature_refused"


class SecondFactor(NamedTuple):
    """The second authentication component at signing (21 CFR 11.200(a)(1)): whether the user has
    one, and whether a token matches it (auditing a mismatch)."""

    enrolled: Callable[[User], bool]
    matches: Callable[..., bool]


# Two-factor authentication is identity, so it lives in accounts, which builds on core; it is
# registered here at start-up (accounts.apps) instead of imported, so core needs nothing of accounts
# but its models.
_SECOND_FACTOR: list[SecondFactor] = []


def second_factor_register(second_factor: SecondFactor) -> None:
    _SECOND_FACTOR[:] = [second_factor]


def _second_factor() -> SecondFactor:
    # Fail closed: a signing that cannot check the second factor must not pass without it.
    if not _SECOND_FACTOR:
        raise ImproperlyConfigured("No second factor registered for electronic signatures (accounts.apps).")
    return _SECOND_FACTOR[0]


def signer_has_second_factor(user: User) -> bool:
    """Whether signing asks this user for a one-time code too (the signature form shows the box)."""
    return _second_factor().enrolled(user)


def plain_value(value: Any) -> Any:
    """A field value as it enters the canonical JSON of a signed digest."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral() else str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


# What a signature covers (21 CFR 11.70, 11.50). Each signature records its manifest: for every
# model whose records make up the signed content, the content keys (field attnames, and the names of
# related content) it covers. Its digest is computed over exactly those keys, so a field added to a
# model later (a new derived column) is not covered and cannot invalidate it, while a change to any
# covered value still does. A manifest is {model label: [keys]}; a model it does not name is
# covered whole (the safer reading: its records were not part of the signed content, so any of them
# now present differs from what was signed anyway).
Manifest = dict[str, list[str]]


class SignedComposite(NamedTuple):
    """A record whose signed content is built from other records (the casebook from its forms).

    ``parts(obj)`` yields (label, record) for every covered record; ``content(obj, digest)`` gives
    the composite's content keys computed with ``digest`` (a function of one part record), which
    replace the stored ones, so each signature is checked against its own manifest of the parts."""

    parts: Callable[[models.Model], Any]
    content: Callable[[models.Model, Callable[[models.Model], str]], dict]


_COMPOSITES: dict[str, SignedComposite] = {}


def signed_composite_register(label: str, composite: SignedComposite) -> None:
    """Registered at start-up by the app that owns the composite (crf: the casebook), because core
    may not import it."""
    _COMPOSITES[label] = composite


def _record_content(obj: models.Model) -> dict[str, Any]:
    """Every key of the record's current signed content with its plain value."""
    content = {f.attname: plain_value(getattr(obj, f.attname)) for f in content_fields(obj)}
    # A record whose signature also covers related records (an SAE report and its adverse event)
    # names their content; a change to any of it then no longer matches the signed digest.
    if hasattr(obj, "signed_related_content"):
        content |= {k: plain_value(v) for k, v in obj.signed_related_content().items()}
    return content


def content_digest(obj: models.Model, manifest: Manifest | None = None) -> str:
    """SHA-256 of the record's content in a canonical JSON form (sorted keys, plain values).

    Without a manifest every current content key counts (what a new signature covers); with one,
    only the keys it names for the record's model (and, for a composite, for its parts' models).
    """
    label = obj._meta.label_lower
    content = _record_content(obj)
    composite = _COMPOSITES.get(label)
    if composite is not None:
        content |= composite.content(obj, lambda part: content_digest(part, manifest))
    if manifest is not None and label in manifest:
        covered = set(manifest[label])
        content = {k: v for k, v in content.items() if k in covered}
    canonical = json.dumps(
        {"model": label, "pk": str(obj.pk), "content": content},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _records(obj: models.Model) -> list[tuple[str, models.Model]]:
    """The record and, for a composite, every part whose content the signature covers."""
    records = [(str(obj), obj)]
    composite = _COMPOSITES.get(obj._meta.label_lower)
    if composite is not None:
        records += [(f"{record}", record) for _label, record in composite.parts(obj)]
    return records


def signed_manifest(obj: models.Model) -> Manifest:
    """The manifest of a signature applied now: every current content key of the record and of
    its parts, derived values present at signing included."""
    manifest: Manifest = {}
    for _name, record in _records(obj):
        keys = manifest.setdefault(record._meta.label_lower, [])
        keys.extend(k for k in _record_content(record) if k not in keys)
    return {label: sorted(keys) for label, keys in manifest.items()}


# Signatures taken before manifests were recorded (``covered_fields`` empty) hashed every content
# field the schema had at that moment. Their manifest is reconstructed from the schema history:
# the migrations on disk say which field each AddField added, and django_migrations says when this
# database applied it; a field added after the signature was not in its digest. Reconstructed at
# run time rather than written into the rows by a data migration, so a signature row is never
# rewritten after signing (11.70), and no hand-kept list of added fields can miss one. A field
# whose migration is not recorded as applied counts as covered (the safer reading: such a signature
# shows invalid rather than valid).


@functools.lru_cache(maxsize=1)
def _field_additions() -> dict[str, list[tuple[str, tuple[str, str]]]]:
    """{model label: [(field name, (app, migration))]} for every AddField on disk."""
    loader = MigrationLoader(None, ignore_no_migrations=True, load=True)
    additions: dict[str, list[tuple[str, tuple[str, str]]]] = {}
    for (app_label, name), migration in loader.disk_migrations.items():
        for operation in migration.operations:
            if isinstance(operation, AddField):
                label = f"{app_label}.{operation.model_name_lower}"
                additions.setdefault(label, []).append((operation.name, (app_label, name)))
    return additions


def _applied_at() -> dict[tuple[str, str], datetime]:
    recorder = MigrationRecorder(connection)
    return {(m.app, m.name): m.applied for m in recorder.migration_qs.only("app", "name", "applied")}


def _added_after(model: type[models.Model], signed_at: datetime, applied: dict) -> set[str]:
    """Names of the model's fields its migrations added after ``signed_at`` in this database."""
    later = set()
    for field_name, migration in _field_additions().get(model._meta.label_lower, []):
        at = applied.get(migration)
        if at is not None and at > signed_at:
            later.add(field_name)
    return later


def legacy_manifest(obj: models.Model, signed_at: datetime) -> Manifest:
    """What a signature of ``signed_at`` without a recorded manifest covered: the current content
    keys minus the fields added to their models after it (a related key ``fk.name`` counts as a
    field ``name`` of the model ``fk`` points to)."""
    applied = _applied_at()
    manifest = {}
    for label, keys in signed_manifest(obj).items():
        model = apps.get_model(label)
        later = {_attname(model, name) for name in _added_after(model, signed_at, applied)}
        kept = []
        for key in keys:
            prefix, _, name = key.partition(".")
            related = _related_model(model, prefix) if name else None
            if related is not None:
                if name in _added_after(related, signed_at, applied):
                    continue
            elif key in later:
                continue
            kept.append(key)
        manifest[label] = kept
    return manifest


def _related_model(model: type[models.Model], name: str) -> type[models.Model] | None:
    try:
        return model._meta.get_field(name).related_model
    except FieldDoesNotExist:
        return None


def _attname(model: type[models.Model], name: str) -> str:
    try:
        return model._meta.get_field(name).attname
    except FieldDoesNotExist:
        return name


def signature_manifest(signature: Signature, obj: models.Model) -> Manifest:
    """The manifest a signature is verified against: its own, or the reconstructed one."""
    if signature.covered_fields:
        return signature.covered_fields
    return legacy_manifest(obj, signature.signed_at)


class NotCovered(NamedTuple):
    """A value the record holds that a signature does not cover."""

    record: str
    field: str
    value: Any
    derived: bool  # computed by the system (not editable), as opposed to entered


def signature_not_covered(obj: models.Model, manifest: Manifest) -> list[NotCovered]:
    """Values of the record (and its parts) outside the manifest: fields added after signing, with
    a value. The signature page shows them as not covered, e.g. a CTCAE grade the backfill derived
    from values the investigator signed."""
    found = []
    for name, record in _records(obj):
        covered = manifest.get(record._meta.label_lower)
        if covered is None:
            continue
        for field in content_fields(record):
            value = getattr(record, field.attname)
            if field.attname not in covered and value not in (None, ""):
                found.append(_not_covered(name, record, field, value))
        related = record.signed_related_content() if hasattr(record, "signed_related_content") else {}
        for key, value in related.items():
            prefix, _, field_name = key.partition(".")
            model = _related_model(type(record), prefix)
            if key in covered or value in (None, "") or model is None:
                continue
            found.append(_not_covered(name, model, model._meta.get_field(field_name), value))
    return found


def _not_covered(name: str, record, field: models.Field, value: Any) -> NotCovered:
    if field.choices:
        value = dict(field.flatchoices).get(value, value)
    label = str(field.verbose_name)
    # A label several fields share (the lab form's "unit" beside each analyte) is named by the field.
    if sum(str(f.verbose_name) == label for f in field.model._meta.concrete_fields) > 1:
        label = field.name.replace("_", " ")
    return NotCovered(record=name, field=label, value=value, derived=not field.editable)


def signatures_for(obj: models.Model):
    ct = ContentType.objects.get_for_model(obj)
    return Signature.objects.filter(content_type=ct, object_id=str(obj.pk)).select_related("signer")


def _recent_failures(user: User) -> int:
    since = timezone.now() - settings.SIGNATURE_FAILURE_WINDOW
    return AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGNATURE_FAILED, actor=user, at__gte=since).count()


# The first signing of a session asks for every component, the user id as well as the password
# (21 CFR 11.200(a)(1)(i)); later signings in the same session the password (and one-time code).
SESSION_SIGNED_KEY = "signature_identity_confirmed"


def signature_identity_needed(session) -> bool:
    """Whether the next signing in this session must also give the user id."""
    return not session.get(SESSION_SIGNED_KEY)


def signature_session_mark(session) -> None:
    """After a successful signing: the session's signer has given every component once."""
    session[SESSION_SIGNED_KEY] = True


def signature_verify(
    *,
    user: User,
    password: str,
    meaning: str,
    obj: models.Model,
    ip_address: str | None = None,
    otp_token: str = "",
    username: str | None = None,
) -> None:
    """Re-authenticate the signer (§11.200); raise SignatureRefused and audit the failure otherwise.

    ``username`` is checked when given (the first signing of a session). Call it outside any
    transaction the caller may roll back, so the failure record survives.
    """
    if not user.is_active:
        raise SignatureRefused("This account is not active.")
    if username is not None and username.strip() != user.username:
        audit_event_record(
            kind=AuditEvent.Kind.SIGNATURE_FAILED,
            actor=user,
            target=obj,
            summary="Wrong user id at signing",
            detail={"meaning": meaning},
            ip_address=ip_address,
        )
        raise SignatureRefused("This is not your user id. Nothing was signed.", field="username")
    if _recent_failures(user) >= settings.SIGNATURE_FAILURE_LIMIT:
        audit_event_record(
            kind=AuditEvent.Kind.SIGNATURE_FAILED,
            actor=user,
            target=obj,
            summary="Signing blocked: too many failed attempts",
            detail={"meaning": meaning, "blocked": True},
            ip_address=ip_address,
        )
        minutes = int(settings.SIGNATURE_FAILURE_WINDOW.total_seconds() // 60)
        raise SignatureRefused(
            f"Too many failed signature attempts. Signing is blocked for up to {minutes} minutes.",
            field="password",
        )
    if not password or not user.check_password(password):
        audit_event_record(
            kind=AuditEvent.Kind.SIGNATURE_FAILED,
            actor=user,
            target=obj,
            summary="Wrong password at signing",
            detail={"meaning": meaning},
            ip_address=ip_address,
        )
        raise SignatureRefused("The password is not correct. Nothing was signed.", field="password")
    second_factor = _second_factor()
    if second_factor.enrolled(user) and not second_factor.matches(
        user=user, token=otp_token, purpose="signature", target=obj, ip_address=ip_address
    ):
        audit_event_record(
            kind=AuditEvent.Kind.SIGNATURE_FAILED,
            actor=user,
            target=obj,
            summary="Wrong or missing one-time code at signing",
            detail={"meaning": meaning},
            ip_address=ip_address,
        )
        raise SignatureRefused("The one-time code is not correct. Nothing was signed.", field="otp_token")


@transaction.atomic
def signature_apply(*, user: User, meaning: str, obj: models.Model, ip_address: str | None = None) -> Signature:
    """Record the signature over ``obj``'s current content. Only after ``signature_verify``.

    The signature records which fields it covers (its manifest) and the digest over exactly those.
    """
    manifest = signed_manifest(obj)
    signature = Signature.objects.create(
        signer=user,
        signer_name=user.get_full_name(),
        signer_username=user.username,
        meaning=meaning,
        signed_at=timezone.now(),
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        content_hash=content_digest(obj, manifest),
        covered_fields=manifest,
    )
    audit_event_record(
        kind=AuditEvent.Kind.SIGNED,
        actor=user,
        target=obj,
        summary=f"Signed by {signature.signer_name}: {meaning}",
        detail={"signature_id": signature.pk, "content_hash": signature.content_hash},
        ip_address=ip_address,
    )
    return signature


def signature_sign(
    *,
    user: User,
    password: str,
    meaning: str,
    obj: models.Model,
    ip_address: str | None = None,
    otp_token: str = "",
) -> Signature:
    """Re-authenticate and sign in one step (for records with nothing else to stamp)."""
    signature_verify(user=user, password=password, meaning=meaning, obj=obj, ip_address=ip_address, otp_token=otp_token)
    return signature_apply(user=user, meaning=meaning, obj=obj, ip_address=ip_address)


def signatures_invalidate_stale(*, obj: models.Model, actor: User | None, reason: str) -> list[Signature]:
    """Invalidate every valid signature over ``obj`` whose signed content no longer matches it: a
    value it covers changed. A value outside its manifest (a field added after it) does not count."""
    stale = [s for s in signatures_for(obj).filter(invalidated_at__isnull=True) if not _matches(s, obj)]
    return _invalidate(obj=obj, signatures=stale, actor=actor, reason=reason)


def signatures_invalidate(*, obj: models.Model, actor: User | None, reason: str) -> list[Signature]:
    """Invalidate every valid signature over ``obj`` although its content still matches: for a
    change a rule says voids the signature without being part of the signed content (a MedDRA
    re-code of the event an SAE report reports)."""
    valid = list(signatures_for(obj).filter(invalidated_at__isnull=True))
    return _invalidate(obj=obj, signatures=valid, actor=actor, reason=reason)


def _invalidate(*, obj: models.Model, signatures: list[Signature], actor: User | None, reason: str) -> list[Signature]:
    now = timezone.now()
    for signature in signatures:
        signature.invalidated_at = now
        signature.invalidated_by = actor if getattr(actor, "pk", None) else None
        signature.invalidated_reason = f"Record changed after signing: {reason}"
        signature.save(update_fields=["invalidated_at", "invalidated_by", "invalidated_reason"])
        audit_event_record(
            kind=AuditEvent.Kind.SIGNATURE_INVALIDATED,
            actor=actor,
            target=obj,
            summary=f"Signature of {signature.signer_name} ({signature.meaning}) invalidated",
            reason=reason,
            detail={"signature_id": signature.pk},
        )
    return signatures


def _matches(signature: Signature, obj: models.Model) -> bool:
    return signature.content_hash == content_digest(obj, signature_manifest(signature, obj))


def signature_status(*, obj: models.Model) -> list[tuple[Signature, bool]]:
    """Each signature over ``obj`` with whether the content it covers still matches the record.

    A mismatch on a signature not yet marked invalidated means the record was changed outside the
    services; the page shows it as invalidated all the same. Each signature also carries
    ``not_covered``: the record's values outside its manifest (fields added after it was applied),
    which the page lists as not covered by the signature.
    """
    status = []
    for signature in signatures_for(obj):
        manifest = signature_manifest(signature, obj)
        valid = signature.is_valid and signature.content_hash == content_digest(obj, manifest)
        signature.not_covered = signature_not_covered(obj, manifest)
        status.append((signature, valid))
    return status
