"""Patient-keyed URLs for the role × site matrix."""

import datetime as dt

from tests.crf.factories import scheduled_patient
from tests.patients.factories import EligibilityAssessmentFactory, PatientFactory


def _patient(site):
    return {"trial_number": PatientFactory(site=site).trial_number}


def _consent(site):
    consent = scheduled_patient(site).consents.get()
    return {"trial_number": consent.patient.trial_number, "consent_id": consent.pk}


def _assessed(site):
    patient = PatientFactory(site=site)
    EligibilityAssessmentFactory(patient=patient, assessed_on=dt.date(2026, 1, 5))
    return {"trial_number": patient.trial_number}


URLS = {
    "patients:patient_detail": ("get", _patient),
    "patients:patient_history": ("get", _patient),
    "patients:consent_add": ("get", _patient),
    "patients:registration_correct": ("get", _patient),
    "patients:sample_consent_withdraw": ("get", _patient),
    "patients:withdrawal_add": ("get", _patient),
    "patients:eligibility_edit": ("get", _patient),
    "patients:eligibility_confirm": ("get", _patient),
    "patients:eligibility_history": ("get", _patient),
    # Source data verification of consent and eligibility (POST; the monitor's, 403 to others).
    "patients:consent_verify": ("post", _consent),
    "patients:eligibility_verify": ("post", _assessed),
    "patients:patient_register": ("get", lambda site: {"code": site.code}),
    "patients:screening_add": ("get", lambda site: {"code": site.code}),
}
