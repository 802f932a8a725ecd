"""Patient-keyed URLs for the role × site matrix."""

from tests.patients.factories import PatientFactory


def _patient(site):
    return {"trial_number": PatientFactory(site=site).trial_number}


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
    "patients:patient_register": ("get", lambda site: {"code": site.code}),
    "patients:screening_add": ("get", lambda site: {"code": site.code}),
}
