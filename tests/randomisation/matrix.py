"""Patient-keyed randomisation URLs for the role × site matrix."""

from tests.patients.factories import PatientFactory


def _patient(site):
    return {"trial_number": PatientFactory(site=site).trial_number}


URLS = {
    "randomisation:randomise": ("get", _patient),
    "randomisation:result": ("get", _patient),
}
