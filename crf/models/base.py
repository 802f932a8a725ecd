"""The lifecycle every CRF shares. A CRF is a Django model that subclasses ``CrfForm``.

Declaring a form: subclass CrfForm, set FORM_CODE, FORM_TITLE, SECTIONS [(title, [field names])],
REQUIRED_FOR_COMPLETE and VALIDATOR (a crf.validators.CrfValidator subclass), make every data field
nullable (partial saves are allowed) with units in ``help_text`` and ranges as validators, and
decorate it with ``crf.registry.register``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import TrialRecord
from patients.models import Patient

from .visits import Visit


class FormStatus(models.TextChoices):
    NOT_STARTED = "not_started", _("Not started")  # no data saved (no row exists)
    IN_PROGRESS = "in_progress", _("In progress")  # saved, possibly partly; missing fields listed
    COMPLETE = "complete", _("Complete")  # every required field given, no hard check failing
    VERIFIED = "verified", _("Verified")  # source data verified by a monitor
    LOCKED = "locked", _("Locked")  # read-only for every role until the data manager unlocks it


class CrfForm(TrialRecord):
    FORM_CODE = ""
    FORM_TITLE = ""
    SECTIONS: list[tuple[str, list[str]]] = []
    REQUIRED_FOR_COMPLETE: list[str] = []
    VALIDATOR = None
    COMPACT = False  # many short fields: laid out four to a row
    REPEATING = False  # several entries per visit (logs: con meds, deviations, imaging, pregnancy)
    # Model fields the save service derives from the entries (never typed): exported beside them.
    DERIVED_FIELDS: list[str] = []
    NEEDS_SAMPLE_CONSENT = False  # entered only while the optional sample consent stands (CRF 13)
    # Lifecycle bookkeeping is not part of the form's content (nor of what a signature covers).
    BOOKKEEPING_FIELDS = TrialRecord.BOOKKEEPING_FIELDS | {
        "status",
        "completed_at",
        "completed_by",
        "verified_at",
        "verified_by",
        "locked_at",
        "locked_by",
        "patient",
        "visit",
    }

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=12, choices=FormStatus.choices, default=FormStatus.IN_PROGRESS)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    locked_at = models.DateTimeField(null=True, blank=True)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        abstract = True
        constraints = []

    def __str__(self) -> str:
        return f"{self.FORM_TITLE} {self.visit}"

    def audit_site(self):
        return self.patient.site

    @classmethod
    def data_field_names(cls) -> list[str]:
        return [name for _title, names in cls.SECTIONS for name in names]

    def summary(self) -> str:
        """A short label for an entry of a repeating form: its first two values given."""
        values = []
        for name in self.data_field_names():
            value = getattr(self, name)
            if value not in (None, ""):
                display = getattr(self, f"get_{name}_display", None)
                values.append(str(display() if display else value))
            if len(values) == 2:
                break
        return " · ".join(values) or "—"

    def derived(self) -> list[tuple[str, str]]:
        """Values the system derives from the entries, shown read-only on the form (label, value)."""
        return []

    def missing_fields(self) -> list[str]:
        return [name for name in self.REQUIRED_FOR_COMPLETE if getattr(self, name) in (None, "")]

    def can_edit(self) -> bool:
        return self.status != FormStatus.LOCKED

    def can_verify(self) -> bool:
        return self.status == FormStatus.COMPLETE

    def can_lock(self) -> bool:
        return self.status in (FormStatus.COMPLETE, FormStatus.VERIFIED)
