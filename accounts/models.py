"""Users, the append-only audit table, electronic signatures and the base of every trial record.

Only the tables stay here; the services over them (audit, signatures, notifications, history) are in
``core``, which is model-free. TrialRecord, AuditEvent, Signature, Notification and ApiToken keep the
``accounts`` app label because moving a table between apps rewrites the migration state of every
app that references it (each foreign key to ``accounts.notification``, every historical table of a
TrialRecord subclass, the append-only triggers keyed by table name) and renames the tables of a
running trial's database, for no change in behaviour. TrialRecord is abstract, but its
``HistoricalRecords(inherit=True)`` and manager are part of every subclass's migration state too.
"""

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from core.roles import ALL_SITES_ROLES, TrialRole


class TrialDataDeletionError(Exception):
    """Trial data is retired, never deleted (GCP: the record of what was observed must survive)."""


class NoDeleteQuerySet(models.QuerySet):
    def delete(self):
        raise TrialDataDeletionError("Trial data cannot be deleted; retire the record instead.")


class TrialRecord(models.Model):
    """Base of every model that holds trial data.

    Field history (who, when, old and new value, reason) comes from django-simple-history; the
    ``version`` counter supports the optimistic edit check; records are retired, not deleted.
    """

    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True, editable=False)

    history = HistoricalRecords(inherit=True, excluded_fields=["updated_at"])

    objects = NoDeleteQuerySet.as_manager()

    # Fields that describe the record's bookkeeping rather than its content; they take no part in
    # change detection or in the hash an electronic signature is bound to.
    BOOKKEEPING_FIELDS = frozenset({"id", "created_at", "updated_at", "version", "retired_at"})

    class Meta:
        abstract = True

    def delete(self, *args, **kwargs):
        raise TrialDataDeletionError("Trial data cannot be deleted; retire the record instead.")

    def _get_FIELD_display(self, field):
        """get_FOO_display() without hashing every choice's label.

        Django builds ``dict(make_hashable(field.flatchoices))`` on each call, and hashing a lazy
        label translates it: nine translations per patient status badge, 450 on a page of the
        patient list, a sixth of its rendering. Our choice values are plain strings and numbers, so
        comparing values is enough, and only the label shown is translated. Same result as Django's.
        """
        value = getattr(self, field.attname)
        for choice, label in field.flatchoices:
            if choice == value:
                return force_str(label, strings_only=True)
        return force_str(value, strings_only=True)

    def audit_site(self):
        """The site whose timezone and scope apply to this record (None for trial-wide records)."""
        return getattr(self, "site", None)


class User(AbstractUser):
    """A person with an account. Login by username or e-mail; site roles come from delegation."""

    email = models.EmailField(_("e-mail address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, help_text=_("As it appears on electronic signatures."))
    trial_role = models.CharField(
        _("trial-wide role"), max_length=20, choices=TrialRole.choices, blank=True, default=""
    )

    history = HistoricalRecords(excluded_fields=["password", "last_login"])
    objects = UserManager()

    REQUIRED_FIELDS = ["email", "full_name"]

    class Meta:
        ordering = ["full_name", "username"]

    def __str__(self) -> str:
        return self.full_name or self.username

    def get_full_name(self) -> str:
        return self.full_name or self.username

    @property
    def sees_all_sites(self) -> bool:
        return self.is_active and self.trial_role in ALL_SITES_ROLES

    def has_trial_role(self, *roles: str) -> bool:
        return self.is_active and self.trial_role in roles

    @cached_property
    def delegation_grants(self) -> tuple[tuple[int, str, frozenset[str]], ...]:
        """(site id, role, duties) of every delegation entry in force today: started, not ended,
        signed off by the PI (DelegationQuerySet.current). One query, kept for the life of this
        object (a request); the permission policy (core.policy.can) and the site scope read it."""
        if not self.is_active or self.pk is None:
            return ()
        return tuple(
            (site_id, role, frozenset(duties or ()))
            for site_id, role, duties in self.delegations.current().values_list("site_id", "role", "duties")
        )

    @cached_property
    def site_roles(self) -> dict[int, frozenset[str]]:
        """Site id → roles held there today through a current delegation entry."""
        roles: dict[int, set[str]] = {}
        for site_id, role, _duties in self.delegation_grants:
            roles.setdefault(site_id, set()).add(role)
        return {k: frozenset(v) for k, v in roles.items()}

    def has_site_role(self, site=None, *roles: str) -> bool:
        """Whether the user holds (one of ``roles``, or any role) at ``site`` (or at any site)."""
        if site is None:
            held = set().union(*self.site_roles.values()) if self.site_roles else set()
        else:
            held = self.site_roles.get(getattr(site, "pk", site), frozenset())
        return bool(held & set(roles)) if roles else bool(held)


class AuditEvent(models.Model):
    """One workflow or security event. Append-only: rows are never updated or deleted.

    On PostgreSQL a trigger (migration 0002) enforces this below the ORM too.
    """

    class Kind(models.TextChoices):
        LOGIN = "login", _("Logged in")
        LOGOUT = "logout", _("Logged out")
        LOGIN_FAILED = "login_failed", _("Failed login")
        LOCKED_OUT = "locked_out", _("Account locked after failed logins")
        ACCOUNT_CREATED = "account_created", _("Account created")
        ACCOUNT_CHANGED = "account_changed", _("Account changed")
        ROLE_CHANGED = "role_changed", _("Trial-wide role changed")
        ACCOUNT_DEACTIVATED = "account_deactivated", _("Account deactivated")
        RECORD_CHANGED = "record_changed", _("Record changed")
        SITE_REGISTERED = "site_registered", _("Site registered")
        SITE_STATUS_CHANGED = "site_status_changed", _("Site status changed")
        DELEGATION_ADDED = "delegation_added", _("Delegation entry added")
        DELEGATION_SIGNED = "delegation_signed", _("Delegation signed off by PI")
        DELEGATION_ENDED = "delegation_ended", _("Delegation ended")
        SIGNED = "signed", _("Electronic signature applied")
        SIGNATURE_FAILED = "signature_failed", _("Electronic signature refused")
        SIGNATURE_INVALIDATED = "signature_invalidated", _("Electronic signature invalidated")
        RECORD_VERIFIED = "record_verified", _("Source data verified")
        VERIFICATION_CLEARED = "verification_cleared", _("Source data verification cleared by a change")
        PATIENT_REGISTERED = "patient_registered", _("Patient registered")
        CONSENT_RECORDED = "consent_recorded", _("Consent recorded")
        CONSENT_WITHDRAWN = "consent_withdrawn", _("Patient withdrawn")
        ELIGIBILITY_CONFIRMED = "eligibility_confirmed", _("Eligibility confirmed")
        RANDOMISED = "randomised", _("Patient randomised")
        LOCKED = "locked", _("Data locked")
        UNLOCKED = "unlocked", _("Data unlocked")
        EXPORTED = "exported", _("Data exported")
        QUERY_RAISED = "query_raised", _("Query raised")
        QUERY_CLOSED = "query_closed", _("Query closed")
        LIST_VIEWED = "list_viewed", _("Randomisation list viewed")
        TWO_FACTOR_ENROLLED = "two_factor_enrolled", _("Two-factor authentication set up")
        TWO_FACTOR_FAILED = "two_factor_failed", _("Wrong one-time code")
        TWO_FACTOR_RESET = "two_factor_reset", _("Two-factor authentication reset by administrator")
        TWO_FACTOR_REMOVED = "two_factor_removed", _("Authenticator app removed by its user")
        API_TOKEN_CREATED = "api_token_created", _("API token created")
        API_TOKEN_REVOKED = "api_token_revoked", _("API token revoked")
        API_TOKEN_REFUSED = "api_token_refused", _("API token refused (revoked, expired or unknown)")

    kind = models.CharField(max_length=40, choices=Kind.choices, db_index=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Copied at the time of the event so the trail reads the same if the account changes later.
    actor_label = models.CharField(max_length=150, blank=True)
    site_code = models.CharField(max_length=10, blank=True, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.get_kind_display()} {self.target_label}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TrialDataDeletionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TrialDataDeletionError("Audit events are append-only.")


# Events about accounts and roles: all of the audit trail the system administrator sees. Their
# targets are users and delegation entries; none carries a patient, an arm or a clinical value.
ACCOUNT_EVENT_KINDS = frozenset(
    {
        AuditEvent.Kind.LOGIN,
        AuditEvent.Kind.LOGOUT,
        AuditEvent.Kind.LOGIN_FAILED,
        AuditEvent.Kind.LOCKED_OUT,
        AuditEvent.Kind.ACCOUNT_CREATED,
        AuditEvent.Kind.ACCOUNT_CHANGED,
        AuditEvent.Kind.ROLE_CHANGED,
        AuditEvent.Kind.ACCOUNT_DEACTIVATED,
        AuditEvent.Kind.DELEGATION_ADDED,
        AuditEvent.Kind.DELEGATION_SIGNED,
        AuditEvent.Kind.DELEGATION_ENDED,
        AuditEvent.Kind.TWO_FACTOR_ENROLLED,
        AuditEvent.Kind.TWO_FACTOR_FAILED,
        AuditEvent.Kind.TWO_FACTOR_RESET,
        AuditEvent.Kind.API_TOKEN_CREATED,
        AuditEvent.Kind.API_TOKEN_REVOKED,
        AuditEvent.Kind.API_TOKEN_REFUSED,
    }
)


class Signature(models.Model):
    """An electronic signature (21 CFR Part 11 §11.50, §11.70, §11.200).

    The manifestation (full name, UTC time, meaning) is stored as signed; ``content_hash`` binds the
    signature to the record's content at that moment, so a later change shows as invalidation.
    ``covered_fields`` is the manifest of that content: for each model of the signed records, the
    content keys the digest was computed over (core.signatures). Empty on signatures taken before
    manifests were recorded; theirs is reconstructed from the schema history.
    """

    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signatures")
    signer_name = models.CharField(max_length=150)
    signer_username = models.CharField(max_length=150)
    meaning = models.CharField(max_length=300)
    signed_at = models.DateTimeField(default=timezone.now)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.CharField(max_length=64)
    record = GenericForeignKey("content_type", "object_id")
    content_hash = models.CharField(max_length=64)
    covered_fields = models.JSONField(
        null=True, blank=True, help_text="{model label: [content keys]} the content hash covers"
    )
    invalidated_at = models.DateTimeField(null=True, blank=True)
    invalidated_reason = models.TextField(blank=True)
    invalidated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-signed_at"]
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.signer_name} — {self.meaning} — {self.signed_at:%Y-%m-%d %H:%M} UTC"

    @property
    def is_valid(self) -> bool:
        return self.invalidated_at is None


class RecordVerification(models.Model):
    """A monitor's source data verification of a record that is not a CRF (consent, eligibility,
    SAE report: ICH E6(R3) 3.11.4), bound to the record's content at that moment.

    ``content_hash`` is ``core.signatures.content_digest`` of the record when verified and
    ``content`` the values it was taken over, so a later change is detected (the digest differs)
    and shown field by field. A change through ``core.audit.record_update`` clears the
    verification in the same transaction (``cleared_*``); the row itself stays, with the audit
    events of both moments. Written only by ``core.verification``.
    """

    kind = models.CharField(max_length=30, db_index=True)  # a core.verification registered kind
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    site_code = models.CharField(max_length=10, blank=True)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(default=timezone.now)
    content_hash = models.CharField(max_length=64)
    content = models.JSONField(default=dict)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cleared_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-verified_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id"])]
        constraints = [
            # One verification in force per record: a second monitor pressing Verify at the same
            # moment is refused by the database, not recorded twice.
            models.UniqueConstraint(
                fields=["content_type", "object_id"],
                condition=models.Q(cleared_at__isnull=True),
                name="record_verification_one_in_force",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} verified by {self.verified_by_id} at {self.verified_at:%Y-%m-%d %H:%M}"

    @property
    def in_force(self) -> bool:
        return self.cleared_at is None


class Notification(models.Model):
    """One outgoing e-mail, recorded before it is sent so a failed send is retried, not lost.

    ``dedupe_key`` makes queueing idempotent: a re-run of a sweep, a retried task or a second worker
    asking for the same notification finds the existing row instead of sending twice.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")  # queued or failed and waiting for the next attempt
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")  # gave up after the maximum number of attempts

    kind = models.CharField(max_length=40, db_index=True)
    dedupe_key = models.CharField(max_length=200, unique=True)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="notifications"
    )
    to_email = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    site_code = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_email}: {self.subject}"


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored; the token is shown once, at creation.

    It carries its user's roles and site scope (checked at each request, so a changed delegation
    applies at once), expires, and can be revoked.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=80)
    prefix = models.CharField(max_length=8, db_index=True)  # shown to tell tokens apart; not secret
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
