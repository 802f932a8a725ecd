"""The door to AEs and SAE reports: inside the user's sites only; 404 otherwise."""

from django.shortcuts import get_object_or_404

from patients.access import access_patient

from .models import AdverseEvent, SaeReport


def access_ae(*, user, trial_number: str, ae_id: int) -> AdverseEvent:
    patient = access_patient(user=user, trial_number=trial_number)
    return get_object_or_404(AdverseEvent.objects.select_related("patient__site"), patient=patient, pk=ae_id)


def access_sae(*, user, report_id: int) -> SaeReport:
    return get_object_or_404(
        SaeReport.objects.visible_to(user).select_related("adverse_event__patient__site", "rsi"), pk=report_id
    )
