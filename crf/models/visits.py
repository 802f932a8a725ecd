"""Visits: the patient's schedule with target dates and windows; states derive from dates."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import NoDeleteQuerySet, TrialRecord
from patients.models import Patient
from sites.models import in_site_scope


class VisitQuerySet(NoDeleteQuerySet):
    def visible_to(self, user) -> VisitQuerySet:
        return in_site_scope(self, user, "patient__site_id")

    def open_on(self, day: dt.date) -> VisitQuerySet:
        """Visits still expected (not done, missed or not applicable)."""
        return self.filter(
            done_on__isnull=True, missed_reason="", not_applicable_reason="", retired_at__isnull=True
        ).exclude(code=Visit.LOG_CODE)


class Visit(TrialRecord):
    class State(models.TextChoices):
        UPCOMING = "upcoming", _("Upcoming")  # window not open yet
        DUE = "due", _("Due")  # window open, not done
        OVERDUE = "overdue", _("Overdue")  # window closed, not done
        DONE = "done", _("Done")
        MISSED = "missed", _("Missed")  # recorded as missed, with the reason
        NOT_APPLICABLE = "not_applicable", _("Not applicable")  # e.g. after withdrawal
        ONGOING = "ongoing", _("Ongoing")  # the patient's logs and events, open for the whole study

    LOG_CODE = "LOG"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visits")
    code = models.CharField(_("visit"), max_length=10)
    label = models.CharField(_("label"), max_length=100)
    sequence = models.PositiveSmallIntegerField()
    target_date = models.DateField(_("target date"))
    window_start = models.DateField(_("window opens"))
    window_end = models.DateField(_("window closes"))
    done_on = models.DateField(_("date done"), null=True, blank=True)
    missed_reason = models.CharField(_("reason missed"), max_length=300, blank=True)
    not_applicable_reason = models.CharField(_("why not applicable"), max_length=300, blank=True)
    unscheduled_reason = models.CharField(_("reason for unscheduled visit"), max_length=300, blank=True)
    # A done visit stays where it was when its anchor date is corrected; if it now falls outside its
    # window, this says so (shown on the timeline, exported with the visit).
    window_flag = models.CharField(_("outside the window after a correction"), max_length=300, blank=True)

    objects = VisitQuerySet.as_manager()

    class Meta:
        ordering = ["patient", "target_date", "sequence"]
        constraints = [models.UniqueConstraint(fields=["patient", "code"], name="visit_unique_code_per_patient")]
        # The visits still expected are few among the many done: the nurse's home, the reminder
        # sweep and the overdue lists find them by deadline without reading the done ones.
        indexes = [
            models.Index(
                fields=["window_end", "patient"],
                name="visit_open_by_deadline",
                condition=Q(done_on__isnull=True, missed_reason="", not_applicable_reason="", retired_at__isnull=True),
            ),
            # The nurse's home: visits open now or within the week, and those overdue, are those whose
            # window has started by next week. Without the whole-study LOG visits, whose window spans
            # the patient's years on study, the week's list need not read every future visit.
            models.Index(
                fields=["window_start", "window_end", "patient"],
                name="visit_open_by_start",
                condition=Q(done_on__isnull=True, missed_reason="", not_applicable_reason="", retired_at__isnull=True)
                & ~Q(code="LOG"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient.trial_number} {self.code}"

    def audit_site(self):
        return self.patient.site

    @property
    def is_log(self) -> bool:
        return self.code == self.LOG_CODE

    @property
    def unscheduled(self) -> bool:
        return bool(self.unscheduled_reason)

    def state(self, today: dt.date | None = None) -> str:
        today = today or timezone.localdate()
        if self.code == self.LOG_CODE:
            return self.State.ONGOING
        if self.not_applicable_reason:
            return self.State.NOT_APPLICABLE
        if not self.done_on and not self.patient.is_on_study():
            return self.State.NOT_APPLICABLE  # withdrawn, completed or died: later visits are not expected
        if self.done_on:
            return self.State.DONE
        if self.missed_reason:
            return self.State.MISSED
        if today < self.window_start:
            return self.State.UPCOMING
        if today <= self.window_end:
            return self.State.DUE
        return self.State.OVERDUE

    def get_state_display(self) -> str:
        return str(self.State(self.state()).label)


class FormNotDone(TrialRecord):
    """An expected form recorded as not done at a visit, with the reason (e.g. questionnaire refused)."""

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="forms_not_done")
    form_code = models.CharField(max_length=30)
    reason = models.CharField(_("reason not done"), max_length=300)

    objects = NoDeleteQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["visit", "form_code"], name="form_not_done_once")]

    def __str__(self) -> str:
        return f"{self.visit} {self.form_code} not done"

    def audit_site(self):
        return self.visit.patient.site
