"""Data queries on a form field: raised by a data manager or monitor, or by a soft edit check."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import NoDeleteQuerySet, TrialRecord
from patients.models import Patient
from sites.models import in_site_scope


class QueryQuerySet(NoDeleteQuerySet):
    def visible_to(self, user) -> QueryQuerySet:
        return in_site_scope(self, user, "patient__site_id")

    def open(self) -> QueryQuerySet:
        return self.exclude(status=Query.Status.CLOSED)


class Query(TrialRecord):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")  # waiting for the site
        ANSWERED = "answered", _("Answered")  # the site replied or corrected; waiting for the raiser
        CLOSED = "closed", _("Closed")  # resolved by the raiser (or the data manager)

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="queries")
    form_code = models.CharField(max_length=30)
    form_id = models.PositiveBigIntegerField()
    visit_code = models.CharField(max_length=10)
    field = models.CharField(max_length=60)
    text = models.TextField(_("query"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    automatic = models.BooleanField(default=False, help_text=_("Raised by a soft edit check."))
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = QueryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        # Open queries, oldest first, are what the data manager and the sites work through.
        indexes = [models.Index(fields=["created_at"], name="query_open_by_age", condition=~Q(status="closed"))]

    def __str__(self) -> str:
        return f"Query on {self.patient.trial_number} {self.visit_code} {self.form_code}.{self.field}"

    def audit_site(self):
        return self.patient.site

    def age_days(self) -> int:
        return (timezone.now() - self.created_at).days


class QueryMessage(models.Model):
    query = models.ForeignKey(Query, on_delete=models.PROTECT, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.author}: {self.text[:40]}"
