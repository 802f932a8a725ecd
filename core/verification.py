"""Source data verification of records that are not CRFs: consent, eligibility, SAE reports.

The monitoring plan (crf.sdv_plan.OTHER_RECORDS) covers these records in full (ICH E6(R3) 3.11.4:
the monitor checks that the recorded data match the source). CRFs carry their SDV in their own
status; these records have no such status, so a verification is a row of its own
(accounts.RecordVerification) bound to the record's content digest (core.signatures.content_digest).

Each domain registers its verifiable kinds at start-up (``verifiable_kind_register`` in its
``AppConfig.ready``, like core.documents), so the queue in reports and the pages of each domain read
one registry and core imports no domain. A change through ``core.audit.record_update`` clears the
verification in the same transaction (``verifications_clear_stale``), with who, when and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import AuditEvent, RecordVerification

from .audit import audit_event_record, content_fields
from .errors import DomainError
from .policy import Action, can, require
from .signatures import content_digest, plain_value

if TYPE_CHECKING:
    from accounts.models import User


class VerificationRefused(DomainError):
    code = "verification_refused"


@dataclass(frozen=True)
class VerifiableKind:
    """One kind of record the monitor verifies outside the CRFs.

    ``visible(user)``: the records the user may see (their sites only), the queue's rows;
    ``ready``: the records ready to verify (a consent once recorded, an eligibility assessment
    once the investigator has confirmed it, an SAE report once sent to the sponsor);
    ``site(record)``, ``patient_path`` (ORM path to the patient); ``record_url(record)`` its page,
    ``verify_url(record)`` the page's POST that verifies it; ``describe(record)`` one line;
    ``related``: the select_related paths those read.
    """

    code: str
    label: str
    model: type[models.Model]
    visible: Callable[[Any], QuerySet]
    ready: Q
    not_ready: str
    site: Callable[[models.Model], Any]
    patient_path: str
    record_url: Callable[[models.Model], str]
    verify_url: Callable[[models.Model], str]
    describe: Callable[[models.Model], str]
    related: tuple[str, ...] = ()  # select_related paths that site(), the URLs and describe() read


# Kind code → kind, filled by the apps' ready(), in registration order.
KINDS: dict[str, VerifiableKind] = {}


def verifiable_kind_register(kind: VerifiableKind) -> None:
    """Register one verifiable record kind; registering a code twice for another model is a mistake."""
    already = KINDS.get(kind.code)
    if already is not None and already.model is not kind.model:
        raise ValueError(f"The verifiable kind {kind.code!r} is already registered for {already.model.__name__}.")
    KINDS[kind.code] = kind


def kind_of(record: models.Model) -> VerifiableKind | None:
    return next((k for k in KINDS.values() if isinstance(record, k.model)), None)


def _for(record: models.Model) -> QuerySet:
    ct = ContentType.objects.get_for_model(record)
    return RecordVerification.objects.filter(content_type=ct, object_id=record.pk)


def snapshot(record: models.Model) -> dict[str, Any]:
    """The record's content as the digest sees it: {field attname: plain value}, with the related
    content an SAE report's digest covers (its adverse event)."""
    content = {f.attname: plain_value(getattr(record, f.attname)) for f in content_fields(record)}
    if hasattr(record, "signed_related_content"):
        content |= {k: plain_value(v) for k, v in record.signed_related_content().items()}
    return content


@transaction.atomic
def record_verify(*, record: models.Model, actor: User) -> RecordVerification:
    """The monitor marks ``record`` source-data verified: who, when and over which content."""
    kind = kind_of(record)
    if kind is None:
        raise VerificationRefused("This kind of record is not verified here.")
    site = kind.site(record)
    require(actor, Action.SDV, site)
    # Lock the record's row: the digest must be of the content a concurrent change has committed
    # (core.audit.record_update takes the same lock), never of a value about to be replaced.
    current = type(record).objects.select_for_update().get(pk=record.pk)
    if not type(record).objects.filter(pk=record.pk).filter(kind.ready).exists():
        raise VerificationRefused(str(kind.not_ready))
    digest = content_digest(current)
    in_force = _for(current).filter(cleared_at__isnull=True).first()
    if in_force is not None:
        if in_force.content_hash == digest:
            raise VerificationRefused(_("Already verified by %(who)s.") % {"who": in_force.verified_by})
        # Changed outside the services: the old verification no longer holds; clear it first.
        _clear(in_force, record=current, actor=actor, reason="Content differs from the verified content")
    try:
        with transaction.atomic():
            verification = RecordVerification.objects.create(
                kind=kind.code,
                content_type=ContentType.objects.get_for_model(current),
                object_id=current.pk,
                site_code=getattr(site, "code", "") or "",
                verified_by=actor,
                verified_at=timezone.now(),
                content_hash=digest,
                content=snapshot(current),
            )
    except IntegrityError:  # another monitor's verification committed first (one in force per record)
        raise VerificationRefused(_("Someone verified this record a moment ago.")) from None
    audit_event_record(
        kind=AuditEvent.Kind.RECORD_VERIFIED,
        actor=actor,
        target=current,
        summary=f"Source data verified: {kind.label}",
        detail={"verification_id": verification.pk, "content_hash": digest, "kind": kind.code},
    )
    return verification


def _clear(verification: RecordVerification, *, record: models.Model, actor: User | None, reason: str) -> None:
    verification.cleared_at = timezone.now()
    verification.cleared_by = actor if getattr(actor, "pk", None) else None
    verification.cleared_reason = reason
    verification.save(update_fields=["cleared_at", "cleared_by", "cleared_reason"])
    audit_event_record(
        kind=AuditEvent.Kind.VERIFICATION_CLEARED,
        actor=actor,
        target=record,
        summary=f"Source data verification of {verification.verified_by} cleared by a change",
        reason=reason,
        detail={"verification_id": verification.pk},
    )


def verifications_clear_stale(*, obj: models.Model, actor: User | None, reason: str) -> list[RecordVerification]:
    """Clear the verification in force over ``obj`` when its content no longer matches (called by
    core.audit.record_update for every audited change, and by a service whose change alters a
    record's digest from another table: an adverse event under its SAE reports)."""
    if kind_of(obj) is None:
        return []
    digest = content_digest(obj)
    stale = list(_for(obj).filter(cleared_at__isnull=True).exclude(content_hash=digest))
    for verification in stale:
        _clear(verification, record=obj, actor=actor, reason=reason)
    return stale


# -- reads ------------------------------------------------------------------------------------

AWAITING = "awaiting"
CHANGED = "changed"
VERIFIED = "verified"
STATUSES = [
    (AWAITING, _("Awaiting SDV")),  # ready, never verified
    (CHANGED, _("Changed since verified")),  # verified once, cleared by a change, not verified again
    (VERIFIED, _("Verified")),  # a verification in force
]


def annotate_status(kind: VerifiableKind, records: QuerySet) -> QuerySet:
    """``records`` with ``sdv_in_force`` and ``sdv_ever`` (was it ever verified) as subqueries."""
    ct = ContentType.objects.get_for_model(kind.model)
    rows = RecordVerification.objects.filter(content_type=ct, object_id=OuterRef("pk"))
    return records.annotate(sdv_in_force=Exists(rows.filter(cleared_at__isnull=True)), sdv_ever=Exists(rows))


def filter_status(records: QuerySet, status: str) -> QuerySet:
    if status == VERIFIED:
        return records.filter(sdv_in_force=True)
    if status == CHANGED:
        return records.filter(sdv_in_force=False, sdv_ever=True)
    return records.filter(sdv_in_force=False, sdv_ever=False)


@dataclass(frozen=True)
class ChangedField:
    label: str
    was: Any
    now: Any


@dataclass(frozen=True)
class VerificationState:
    """What a record's page shows of its SDV: the verification in force, or the cleared one with
    what changed since, and whether this user may verify now."""

    kind: VerifiableKind
    record: models.Model
    in_force: RecordVerification | None
    cleared: RecordVerification | None
    changed: list[ChangedField]
    may_verify: bool
    verify_url: str


def _label(record: models.Model, name: str) -> str:
    """A content key's label: the field's verbose name; ``relation.field`` (the related content an
    SAE report's digest covers) as "Adverse event: grade"."""
    try:
        if "." in name:
            relation, _sep, attname = name.partition(".")
            related = record._meta.get_field(relation)
            inner = related.related_model._meta.get_field(attname)
            return f"{str(related.verbose_name).capitalize()}: {inner.verbose_name}"
        return str(record._meta.get_field(name.removesuffix("_id")).verbose_name).capitalize()
    except LookupError:
        return name


def _shown(value: Any) -> str:
    """A digest value as a reader sees it (the verified value is kept as its plain JSON form)."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def changed_fields(record: models.Model, verification: RecordVerification) -> list[ChangedField]:
    """Each field whose value now differs from the value verified, with both values."""
    now = snapshot(record)
    names = sorted(set(now) | set(verification.content))
    return [
        ChangedField(_label(record, n), _shown(verification.content.get(n)), _shown(now.get(n)))
        for n in names
        if verification.content.get(n) != now.get(n)
    ]


def verification_state(*, record: models.Model, user) -> VerificationState | None:
    """The SDV panel of a record's page: two queries (the record's verifications with their users)."""
    kind = kind_of(record)
    if kind is None or record.pk is None:
        return None
    rows = list(_for(record).select_related("verified_by", "cleared_by").order_by("-verified_at", "-id")[:1])
    latest = rows[0] if rows else None
    in_force = latest if latest is not None and latest.in_force else None
    cleared = latest if latest is not None and not latest.in_force else None
    if in_force is not None and in_force.content_hash != content_digest(record):
        # Changed outside the services since verified: shown as cleared, never as verified.
        cleared, in_force = in_force, None
    ready = type(record).objects.filter(pk=record.pk).filter(kind.ready).exists()
    return VerificationState(
        kind=kind,
        record=record,
        in_force=in_force,
        cleared=cleared,
        changed=changed_fields(record, cleared) if cleared else [],
        may_verify=in_force is None and ready and can(user, Action.SDV, kind.site(record)),
        verify_url=kind.verify_url(record),
    )
