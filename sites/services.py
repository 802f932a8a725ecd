"""Site registration, activation and the delegation log. Every write is audited."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from accounts.models import AuditEvent, User
from core.audit import audit_event_record, record_create, record_update
from core.errors import DomainError
from core.policy import Action, can, require
from core.roles import SiteRole
from core.signatures import signature_apply, signature_verify

from .models import Delegation, Duty, Site

DELEGATION_SIGN_OFF_MEANING = "I delegate the listed trial duties to this staff member"


def can_manage_delegation(user: User, site: Site) -> bool:
    return can(user, Action.DELEGATION_MANAGE, site)


@transaction.atomic
def site_register(*, actor: User, data: dict) -> Site:
    """Register a site (status pending) and open its delegation log with the PI's entry."""
    require(actor, Action.SITE_REGISTER)
    if Site.objects.filter(code=data["code"]).exists():
        raise DomainError(f"Site code {data['code']} is already in use.", field="code")
    site = record_create(obj=Site(**data), actor=actor, reason="Site registered")
    _delegate_pi(site=site, pi=site.pi, actor=actor)
    audit_event_record(
        kind=AuditEvent.Kind.SITE_REGISTERED, actor=actor, target=site, summary=f"Site {site} registered"
    )
    return site


def _delegate_pi(*, site: Site, pi: User, actor: User) -> Delegation:
    existing = site.delegations.current().filter(user=pi, role=SiteRole.PRINCIPAL_INVESTIGATOR).first()
    if existing:
        return existing
    return record_create(
        obj=Delegation(
            site=site,
            user=pi,
            role=SiteRole.PRINCIPAL_INVESTIGATOR,
            duties=list(Duty.values),
            start_date=timezone.localdate(),
        ),
        actor=actor,
        reason="Principal investigator of the site",
    )


@transaction.atomic
def site_update(*, actor: User, site: Site, data: dict, reason: str, expected_version: int | None = None) -> Site:
    require(actor, Action.SITE_REGISTER, site)
    old_pi_id = site.pi_id
    site = record_update(obj=site, data=data, actor=actor, reason=reason, expected_version=expected_version)
    if site.pi_id != old_pi_id:
        for entry in site.delegations.current().filter(user_id=old_pi_id, role=SiteRole.PRINCIPAL_INVESTIGATOR):
            record_update(
                obj=entry,
                data={"end_date": timezone.localdate()},
                actor=actor,
                reason=f"PI changed: {reason}",
            )
        _delegate_pi(site=site, pi=site.pi, actor=actor)
    return site


def _set_status(*, actor: User, site: Site, status: str, reason: str) -> Site:
    old = site.get_status_display()
    data = {"status": status}
    if status == Site.Status.ACTIVE and site.activated_at is None:
        data["activated_at"] = timezone.now()
    if status in (Site.Status.ON_HOLD, Site.Status.CLOSED) and site.status == Site.Status.ACTIVE:
        data["recruitment_stopped_at"] = timezone.now()
    elif status == Site.Status.ACTIVE:
        # Reopened: the forecast counts it open from its first activation, the hold included, which
        # understates its rate a little rather than overstating it.
        data["recruitment_stopped_at"] = None
    site = record_update(obj=site, data=data, actor=actor, reason=reason)
    audit_event_record(
        kind=AuditEvent.Kind.SITE_STATUS_CHANGED,
        actor=actor,
        target=site,
        summary=f"Site {site.code}: {old} → {site.get_status_display()}",
        reason=reason,
    )
    return site


@transaction.atomic
def site_activate(*, actor: User, site: Site, reason: str = "") -> Site:
    """Activate a site once its checklist is complete (or re-activate one on hold)."""
    require(actor, Action.SITE_ACTIVATE, site)
    site = Site.objects.select_for_update().get(pk=site.pk)
    if site.status == Site.Status.ACTIVE:
        return site
    missing = site.activation_missing()
    if missing:
        raise DomainError("The site cannot be activated: missing " + "; ".join(missing) + ".", code="checklist")
    if not site.can_activate():
        raise DomainError(f"A site that is {site.get_status_display().lower()} cannot be activated.")
    return _set_status(
        actor=actor, site=site, status=Site.Status.ACTIVE, reason=reason or "Activation checklist complete"
    )


@transaction.atomic
def site_hold(*, actor: User, site: Site, reason: str) -> Site:
    require(actor, Action.SITE_ACTIVATE, site)
    site = Site.objects.select_for_update().get(pk=site.pk)
    if not site.can_hold():
        raise DomainError("Only an active site can be put on hold.")
    return _set_status(actor=actor, site=site, status=Site.Status.ON_HOLD, reason=reason)


@transaction.atomic
def site_close(*, actor: User, site: Site, reason: str) -> Site:
    require(actor, Action.SITE_ACTIVATE, site)
    site = Site.objects.select_for_update().get(pk=site.pk)
    if not site.can_close():
        raise DomainError("This site is already closed.")
    return _set_status(actor=actor, site=site, status=Site.Status.CLOSED, reason=reason)


@transaction.atomic
def delegation_add(
    *,
    actor: User,
    site: Site,
    user: User,
    role: str,
    duties: list[str],
    start_date: dt.date,
    end_date: dt.date | None = None,
) -> Delegation:
    """Add a line to the delegation log; it takes effect when the PI signs it off."""
    require(actor, Action.DELEGATION_MANAGE, site)
    if role == SiteRole.PRINCIPAL_INVESTIGATOR:
        raise DomainError(
            "The PI's entry comes from the site's registration; change the site's PI instead.", field="role"
        )
    if end_date is not None and end_date < start_date:
        raise DomainError("The end date is before the start date.", field="end_date")
    if site.delegations.current().filter(user=user, role=role).exists():
        raise DomainError(f"{user} already has a current {role} entry at this site.", field="user")
    entry = record_create(
        obj=Delegation(
            site=site, user=user, role=role, duties=sorted(duties), start_date=start_date, end_date=end_date
        ),
        actor=actor,
        reason="Delegation entry added",
    )
    audit_event_record(kind=AuditEvent.Kind.DELEGATION_ADDED, actor=actor, target=entry, summary=f"{entry} added")
    return entry


def delegation_sign_off(
    *,
    actor: User,
    entry: Delegation,
    password: str,
    ip_address: str | None = None,
    otp_token: str = "",
    username: str | None = None,
) -> Delegation:
    """The site's PI signs the delegation entry electronically; only then does it take effect."""
    require(actor, Action.DELEGATION_SIGN, entry.site)
    if not entry.needs_sign_off():
        raise DomainError("This entry needs no sign-off.")
    # Outside the transaction: a refused signature must leave its audit record behind.
    signature_verify(
        user=actor,
        password=password,
        meaning=DELEGATION_SIGN_OFF_MEANING,
        obj=entry,
        ip_address=ip_address,
        otp_token=otp_token,
        username=username,
    )
    with transaction.atomic():
        entry = record_update(
            obj=entry,
            data={"pi_signed_off_at": timezone.now(), "pi_signed_off_by": actor},
            actor=actor,
            reason="Signed off by the principal investigator",
        )
        signature_apply(user=actor, meaning=DELEGATION_SIGN_OFF_MEANING, obj=entry, ip_address=ip_address)
        audit_event_record(
            kind=AuditEvent.Kind.DELEGATION_SIGNED, actor=actor, target=entry, summary=f"{entry} signed off"
        )
    return entry


@transaction.atomic
def delegation_end(*, actor: User, entry: Delegation, end_date: dt.date, reason: str) -> Delegation:
    require(actor, Action.DELEGATION_MANAGE, entry.site)
    if end_date < entry.start_date:
        raise DomainError("The end date is before the start date.", field="end_date")
    entry = record_update(obj=entry, data={"end_date": end_date}, actor=actor, reason=reason)
    audit_event_record(
        kind=AuditEvent.Kind.DELEGATION_ENDED,
        actor=actor,
        target=entry,
        summary=f"{entry} ends {end_date:%d %b %Y}",
        reason=reason,
    )
    return entry
