"""A lock of the whole database for an analysis: soft (no data entry, queries still answerable),
then hard (nothing changes). Unlocking needs two people (protocol.md "Locks and sign-off"): the data
manager asks with a reason, a trial manager or statistician approves."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TrialRecord


class DatasetLock(TrialRecord):
    class Kind(models.TextChoices):
        INTERIM = "interim", _("Interim analysis")
        FINAL = "final", _("Final analysis")

    class Level(models.TextChoices):
        SOFT = "soft", _("Soft lock: no data entry, queries answerable")
        HARD = "hard", _("Hard lock: read-only")

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.INTERIM)
    level = models.CharField(max_length=4, choices=Level.choices, default=Level.SOFT)
    reason = models.TextField()
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    locked_at = models.DateTimeField()
    hard_locked_at = models.DateTimeField(null=True, blank=True)
    unlock_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unlock_requested_at = models.DateTimeField(null=True, blank=True)
    # Set when the second person approves the unlock: the lock stops standing from then.
    unlocked_at = models.DateTimeField(null=True, blank=True)
    unlocked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unlock_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-locked_at"]

    def __str__(self) -> str:
        return f"Dataset lock {self.pk} ({self.get_kind_display()}, {self.level})"

    @property
    def unlock_pending(self) -> bool:
        return self.unlocked_at is None and self.unlock_requested_at is not None

    @property
    def active(self) -> bool:
        return self.unlocked_at is None

    @classmethod
    def current(cls):
        return cls.objects.filter(unlocked_at__isnull=True).order_by("-locked_at").first()
