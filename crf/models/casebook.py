"""The patient's casebook as one signable record: the PI signs it at end of study.

Its content is a digest over every CRF of the patient, so any later change to a form's data
changes the casebook's content and invalidates the PI's signature (visibly and in the audit).
"""

from __future__ import annotations

from django.db import models

from accounts.models import TrialRecord
from patients.models import Patient


class Casebook(TrialRecord):
    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="casebook")
    forms_digest = models.CharField(max_length=64, help_text="SHA-256 over the content of every CRF of the patient")
    forms_count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Casebook {self.patient.trial_number}"

    def audit_site(self):
        return self.patient.site
