"""The door to visits, forms and queries: inside the user's sites only; 404 otherwise."""

from django.http import Http404
from django.shortcuts import get_object_or_404

from patients.access import access_patient

from . import schedule
from .models import Query, Visit
from .registry import FORMS


def access_visit(*, user, trial_number: str, code: str) -> Visit:
    patient = access_patient(user=user, trial_number=trial_number)
    visit = get_object_or_404(Visit.objects.select_related("patient__site"), patient=patient, code=code)
    return visit


def expected_forms(visit: Visit, definitions: dict[str, schedule.VisitDef] | None = None) -> list[str]:
    """The forms expected at ``visit``. ``definitions`` (visit code → definition of the schedule in
    force) spares a page of many visits rebuilding the schedule for each (the record status grid)."""
    if visit.is_log:
        return list(schedule.LOG.forms)
    if definitions is None:
        definitions = {d.code: d for d in schedule.schedule()}
    definition = definitions.get(visit.code)
    if definition is None:  # unscheduled: laboratory and follow-up may be recorded
        return ["laboratory", "follow_up"]
    forms = list(definition.forms)
    # Protocol CRF 13: biomarker samples are expected only while the optional sample consent
    # stands. A sample already recorded (under consent) stays visible at its visit.
    if (
        "biomarker_sample" in forms
        and not visit.patient.sample_consent_stands()
        and not FORMS["biomarker_sample"].objects.filter(visit=visit).exists()
    ):
        forms.remove("biomarker_sample")
    return forms


def access_form(*, user, trial_number: str, code: str, form_code: str, entry: int | None = None):
    """(model, visit, saved form or None) for a form expected at the visit.

    Repeating forms (logs) name the ``entry`` (its id) to edit one; without it, a new entry."""
    visit = access_visit(user=user, trial_number=trial_number, code=code)
    if form_code not in FORMS or form_code not in expected_forms(visit):
        raise Http404
    model = FORMS[form_code]
    if model.REPEATING:
        if entry is None:
            return model, visit, None
        return model, visit, get_object_or_404(model, visit=visit, pk=entry)
    if entry is not None:
        raise Http404
    return model, visit, model.objects.filter(visit=visit).first()


def access_query(*, user, query_id: int) -> Query:
    return get_object_or_404(Query.objects.visible_to(user).select_related("patient__site", "raised_by"), pk=query_id)
