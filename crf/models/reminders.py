"""Visit-window reminders sent to site staff, one row per (visit, stage, recipient): the record that
makes the daily sweep idempotent across re-runs, retries and concurrent workers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Notification

from .visits import Visit


class VisitReminder(models.Model):
    class Stage(models.TextChoices):
        OPENS_SOON = "opens_soon", _("Window opens soon")
        DUE = "due", _("Window open")
        OVERDUE = "overdue", _("Overdue")

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="reminders")
    stage = models.CharField(max_length=12, choices=Stage.choices)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visit_reminders")
    notification = models.ForeignKey(Notification, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "visit__target_date"]
        constraints = [
            models.UniqueConstraint(fields=["visit", "stage", "recipient"], name="visit_reminder_once_per_stage")
        ]

    def __str__(self) -> str:
        return f"{self.visit} {self.stage} → {self.recipient}"
