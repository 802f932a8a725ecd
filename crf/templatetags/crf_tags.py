from collections import Counter

from django import template
from django.core.exceptions import FieldDoesNotExist
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from core.policy import Action, can
from crf import schedule
from crf.forms import VisitDateForm
from crf.labs import grade_text
from crf.models import Laboratory, QualityOfLife
from crf.registry import FORMS
from crf.selectors import patient_timeline
from crf.validators import PREGNANCY_WINDOW_MONTHS, pregnancy_reporting_until

register = template.Library()


def _timeline(context, patient) -> list[dict]:
    """The patient's timeline, read once per page however many tags show it."""
    cache = context.render_context
    key = ("crf_timeline", patient.pk)
    if key not in cache:
        cache[key] = patient_timeline(patient)
    return cache[key]


@register.inclusion_tag("crf/patient_panel.html", takes_context=True)
def visits_panel(context, patient):
    """The patient's visit timeline with form statuses and open queries (fixed number of queries)."""
    timeline = _timeline(context, patient)
    counts = Counter(row["state"] for row in timeline if not row["visit"].is_log)
    return {
        "patient": patient,
        "timeline": timeline,
        "counts": sorted(counts.items()),
        "can_add": bool(timeline)
        and can(context["request"].user, Action.CRF_ENTER, patient.site)
        and patient.is_on_study(),
        "date_form": VisitDateForm(),
    }


@register.inclusion_tag("crf/lab_summary.html")
def lab_summary(patient):
    """The latest laboratory panel's CTCAE v5.0 grades (grade ≥ 1) and derived clearance, the
    latest quality-of-life form's stored QLQ-C30 summary and GI.NET21 scale scores, and the end of
    the contraception / pregnancy-reporting window after the last dose (three queries)."""
    lab = (
        Laboratory.objects.filter(patient=patient, sample_date__isnull=False)
        .select_related("visit")
        .order_by("-sample_date", "-pk")
        .first()
    )
    grades = []
    if lab is not None:
        for analyte, name in Laboratory.GRADE_OF.items():
            grade = getattr(lab, name)
            if grade:
                grades.append((Laboratory._meta.get_field(analyte).verbose_name, grade_text(grade)))
    qol = (
        QualityOfLife.objects.filter(patient=patient, completed_on__isnull=False)
        .select_related("visit")
        .order_by("-completed_on", "-pk")
        .first()
    )
    return {
        "patient": patient,
        "lab": lab,
        "grades": grades,
        "qol": qol,
        "ginet21": qol.ginet21_rows() if qol is not None else [],
        "pregnancy_until": pregnancy_reporting_until(patient),
        "pregnancy_months": PREGNANCY_WINDOW_MONTHS.get(patient.sex),
    }


@register.inclusion_tag("crf/next_visit.html", takes_context=True)
def next_visit(context, patient):
    """What is due next for a randomised patient, in one line: the open visit whose window closes
    first, from the timeline the page shows anyway (no query of its own)."""
    waiting = [
        row
        for row in _timeline(context, patient)
        if not row["visit"].is_log and row["state"] in ("overdue", "due", "upcoming")
    ]
    upcoming = min(waiting, key=lambda r: (r["visit"].window_end, r["visit"].sequence), default=None)
    return {
        "patient": patient,
        "visit": upcoming["visit"] if upcoming else None,
        "state": upcoming["state"] if upcoming else None,
    }


# Badges as filters, not {% include %}: a patient's timeline shows a hundred of them, and an include
# per badge was a third of the patient page's rendering time. Same markup and msgids as before.
_FORM_STATUS = {
    "not_started": _("Not started"),
    "in_progress": _("In progress"),
    "complete": _("Complete"),
    "verified": _("Verified"),
    "locked": _("Locked"),
}
_VISIT_STATE = {
    "upcoming": _("Upcoming"),
    "due": _("Due"),
    "overdue": _("Overdue"),
    "done": _("Done"),
    "missed": _("Missed"),
    "not_applicable": _("Not applicable"),
    "ongoing": _("Ongoing"),
}


@register.filter
def form_status_badge(status) -> str:
    return format_html('<span class="badge form-status form-{}">{}</span>', status, _FORM_STATUS.get(status, ""))


@register.filter
def visit_state_badge(state) -> str:
    return format_html('<span class="badge visit-state visit-{}">{}</span>', state, _VISIT_STATE.get(state, ""))


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template (the value a field had when verified), '' when absent."""
    return mapping.get(key, "") if mapping else ""


@register.filter
def form_title(form_code: str) -> str:
    """A CRF's title from its code ("liver_resection" → "Liver resection")."""
    model = FORMS.get(form_code)
    return str(model.FORM_TITLE) if model else form_code


@register.simple_tag
def field_label(form_code: str, field_name: str) -> str:
    """A CRF field's label as on the form ("length_of_stay_days" → "Length of stay")."""
    model = FORMS.get(form_code)
    try:
        return str(capfirst(model._meta.get_field(field_name).verbose_name)) if model else field_name
    except FieldDoesNotExist:
        return field_name


@register.filter
def visit_label(visit_code: str) -> str:
    """A visit's label from its code, as in the schedule ("FU03" → "Follow-up month 3")."""
    if visit_code == schedule.LOG.code:
        return str(schedule.LOG.label)
    label = next((v.label for v in schedule.schedule() if v.code == visit_code), None)
    return label or str(_("Unscheduled visit %(code)s") % {"code": visit_code})


@register.filter
def lookup(mapping, key):
    """mapping[key] in a template, or None."""
    return mapping.get(key) if mapping else None
