"""The one door to patient records: inside the user's sites only; 404 for missing and forbidden."""

from django.shortcuts import get_object_or_404

from .models import Consent, EligibilityAssessment, Patient


def access_patient(*, user, trial_number: str) -> Patient:
    return get_object_or_404(Patient.objects.visible_to(user).select_related("site"), trial_number=trial_number)


def access_consent(*, user, trial_number: str, consent_id: int) -> Consent:
    patient = access_patient(user=user, trial_number=trial_number)
    return get_object_or_404(
        Consent.objects.select_related("patient__site", "document"), patient=patient, pk=consent_id
    )


def access_eligibility(*, user, trial_number: str) -> EligibilityAssessment:
    patient = access_patient(user=user, trial_number=trial_number)
    return get_object_or_404(EligibilityAssessment.objects.select_related("patient__site"), patient=patient)
