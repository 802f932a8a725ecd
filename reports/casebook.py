"""The patient casebook PDF: every form with its data, query history, signatures with their
manifestation and an audit-trail appendix. Trial numbers only, never the patient's name."""

from __future__ import annotations

from core.documents import BuiltDocument, render_pdf
from core.history import record_history
from core.signatures import signature_status
from crf.forms import crf_form_class
from crf.models import Query
from crf.registry import FORMS
from crf.selectors import patient_timeline
from crf.services import casebook_digest, casebook_signature_status
from patients.models import EligibilityAssessment, Patient


def grades_beside(form, bound) -> dict[str, str]:
    """Entered field → its value with the stored CTCAE v5.0 grade beside it (issue 23: the grade is
    shown beside the value on the form, the patient page and in the casebook), for a form that
    grades its values (the laboratory panel's GRADE_OF); the grade is the stored one, never
    recomputed here."""
    grades = getattr(type(form), "GRADE_OF", {})
    beside = {}
    for analyte, grade_name in grades.items():
        if getattr(form, analyte) is None:
            continue
        grade = getattr(form, grade_name)
        beside[analyte] = f"{bound.display(analyte)} · CTCAE v5.0 {'—' if grade is None else f'G{grade}'}"
    return beside


def casebook_context(patient: Patient, progress=lambda p: None) -> dict:
    timeline = patient_timeline(patient)
    forms_by_id = {}
    for model in FORMS.values():
        for form in model.objects.filter(patient=patient).select_related("visit", "completed_by", "verified_by"):
            forms_by_id[(model.FORM_CODE, form.pk)] = form
    queries = {}
    for query in Query.objects.filter(patient=patient).prefetch_related("messages__author").select_related("raised_by"):
        queries.setdefault((query.form_code, query.form_id), []).append(query)
    visits = []
    for index, row in enumerate(timeline):
        entries = []
        for f in row["forms"]:
            saved = [e["form"] for e in f["entries"]] if f["repeating"] else ([f["form"]] if f["form"] else [])
            for stub in saved:
                form = forms_by_id[(f["code"], stub.pk)]
                bound = crf_form_class(type(form))(instance=form)
                beside = grades_beside(form, bound)
                entries.append(
                    {
                        "title": f["title"],
                        "form": form,
                        "sections": [
                            (title, [(field.label, beside.get(field.name, shown)) for field, _q, shown in fields])
                            for title, fields in bound.sections()
                        ],
                        "derived": form.derived(),
                        "queries": queries.get((f["code"], form.pk), []),
                        "history": record_history(form, timezone_name=patient.site.timezone),
                    }
                )
        visits.append({"row": row, "entries": entries})
        progress(10 + int(70 * (index + 1) / max(len(timeline), 1)))
    assessment = EligibilityAssessment.objects.filter(patient=patient).first()
    return {
        "patient": patient,
        "visits": visits,
        "casebook_signatures": casebook_signature_status(patient),
        "eligibility_signatures": signature_status(obj=assessment) if assessment else [],
        "allocation": getattr(patient, "allocation", None),
    }


def build_casebook(subject: str, progress) -> BuiltDocument:
    patient = Patient.objects.select_related("site").get(trial_number=subject)
    progress(5)
    context = casebook_context(patient, progress)
    pdf = render_pdf("pdf/casebook.html", context)
    digest, _count = casebook_digest(patient)
    return BuiltDocument(filename=f"casebook-{patient.trial_number}.pdf", pdf=pdf, source_digest=digest)
