"""The one door to patient records: inside the user's sites only; 404 for missing and forbidden."""

from django.shortcuts import get_object_or_404

from .models import Patient


def access_patient(*, user, trial_number: str) -> Patient:
    return get_object_or_404(Patient.objects.visible_to(user).select_related("site"), trial_number=trial_number)
