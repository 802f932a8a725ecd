"""CRF URLs for the role × site matrix: visits, forms, log entries, history, actions and queries."""

from crf.models import ConcomitantMedication, Demographics, Query
from tests.crf.factories import scheduled_patient


def _visit(site):
    return {"trial_number": scheduled_patient(site).trial_number, "code": "RAND"}


def _form(site):
    return _visit(site) | {"form_code": "demographics"}


def _saved_form(site):
    patient = scheduled_patient(site)
    visit = patient.visits.get(code="RAND")
    Demographics.objects.create(patient=patient, visit=visit, height_cm=170)
    return {"trial_number": patient.trial_number, "code": "RAND", "form_code": "demographics"}


def _entry(site):
    patient = scheduled_patient(site)
    visit = patient.visits.get(code="LOG")
    med = ConcomitantMedication.objects.create(patient=patient, visit=visit, drug="Paracetamol")
    return {"trial_number": patient.trial_number, "code": "LOG", "form_code": "con_med", "entry": med.pk}


def _query(site):
    patient = scheduled_patient(site)
    visit = patient.visits.get(code="RAND")
    form = Demographics.objects.create(patient=patient, visit=visit, height_cm=170)
    query = Query.objects.create(
        patient=patient, form_code="demographics", form_id=form.pk, visit_code="RAND", field="height_cm", text="?"
    )
    return {"query_id": query.pk}


URLS = {
    "crf:visit": ("get", _visit),
    "crf:visit_missed": ("post", _visit),
    "crf:visit_done": ("post", _visit),
    "crf:form_not_done": ("post", lambda site: _visit(site) | {"form_code": "quality_of_life"}),
    "crf:visit_unscheduled": ("post", lambda site: {"trial_number": scheduled_patient(site).trial_number}),
    "crf:form": ("get", _form),
    # Derived values while typing: site staff only (others 403), another site's patient 404.
    "crf:derive": ("post", _form),
    "crf:history": ("get", _saved_form),
    "crf:action": ("post", lambda site: _saved_form(site) | {"action": "verify"}),
    "crf:entry": ("get", _entry),
    "crf:entry_history": ("get", _entry),
    "crf:entry_action": ("post", lambda site: _entry(site) | {"action": "lock"}),
    "crf:query_detail": ("get", _query),
    "crf:casebook": ("get", lambda site: {"trial_number": scheduled_patient(site).trial_number}),
}
