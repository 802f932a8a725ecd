"""The data manager's pre-lock clean-up of a simulated trial, through the services.

``simulate_trial --lock-ready`` leaves the trial as a lock and export drill needs it: every item of
``reports.locking.prelock_checklist`` met by the steps staff take in the EDC, not by skipping the
checklist: overdue visits recorded missed by the site, forms never started recorded not done,
forms in progress completed, every complete form source-verified by the monitor, queries answered
by the site and closed by the data manager, and SAE reports signed by the site's PI.
"""

from __future__ import annotations

from django.utils import timezone

from accounts.models import User
from core.errors import DomainError
from crf import services as crf
from crf.access import expected_forms
from crf.models import FormNotDone, FormStatus, Query, Visit
from crf.registry import FORMS
from demo.management.commands.seed_demo import DEMO_PASSWORD
from safety import services as safety
from safety.models import SaeReport

MISSED = "Not attended; recorded missed at the pre-lock review"
NOT_DONE = "Not collected at the visit; recorded not done at the pre-lock review"
ANSWER = "Checked against the source document at the pre-lock review."


def _late_entries(form) -> dict:
    """Values the site can now enter from its records for a form left open for want of them: a
    sample shipped after the simulated data entry was shipped by the time of the review."""
    values = {}
    for name in form.missing_fields():
        if name == "shipped_on" and getattr(form, "blood_collected_at", None):
            values[name] = form.blood_collected_at.date()
    return values


def _complete(form, nurse) -> None:
    try:
        crf.crf_mark_complete(form=form, actor=nurse)
    except DomainError as exc:
        late = _late_entries(form) if exc.code == "incomplete" else {}
        if not late:
            raise
        form = crf.crf_save(model=type(form), visit=form.visit, data=late, actor=nurse, instance=form)
        crf.crf_mark_complete(form=form, actor=nurse)


def _nurse(patient, cache: dict) -> User:
    code = patient.site.code
    if code not in cache:
        cache[code] = User.objects.get(username=f"nurse.{code.lower()}")
    return cache[code]


def lock_ready_cleanup(*, seed: int = 0, stdout=None, today=None) -> dict:
    """Meet the pre-lock checklist through the services; returns what was done, per step."""
    today = today or timezone.localdate()
    dm, monitor = User.objects.get(username="dm"), User.objects.get(username="monitor")
    nurses: dict[str, User] = {}
    done = dict.fromkeys(
        ["visits_missed", "forms_not_done", "forms_completed", "forms_verified", "queries_closed", "saes_signed"], 0
    )
    overdue = (
        Visit.objects.filter(
            retired_at__isnull=True,
            done_on__isnull=True,
            missed_reason="",
            not_applicable_reason="",
            window_end__lt=today,
        )
        .exclude(code="LOG")
        .select_related("patient__site")
    )
    for visit in overdue:
        crf.visit_mark_missed(visit=visit, reason=MISSED, actor=_nurse(visit.patient, nurses))
        done["visits_missed"] += 1
    saved = {(f.visit_id, code) for code, model in FORMS.items() for f in model.objects.only("visit_id")}
    not_done = set(FormNotDone.objects.values_list("visit_id", "form_code"))
    for visit in (
        Visit.objects.filter(retired_at__isnull=True, done_on__isnull=False, missed_reason="", not_applicable_reason="")
        .exclude(code="LOG")
        .select_related("patient__site")
    ):
        for code in expected_forms(visit):
            if FORMS[code].REPEATING or (visit.pk, code) in saved or (visit.pk, code) in not_done:
                continue
            crf.crf_mark_not_done(visit=visit, form_code=code, reason=NOT_DONE, actor=_nurse(visit.patient, nurses))
            done["forms_not_done"] += 1
    for model in FORMS.values():
        for form in model.objects.filter(status=FormStatus.IN_PROGRESS).select_related("patient__site", "visit"):
            _complete(form, _nurse(form.patient, nurses))
            done["forms_completed"] += 1
    for model in FORMS.values():
        for form in model.objects.filter(status=FormStatus.COMPLETE).select_related("patient__site", "visit"):
            crf.crf_verify(form=form, actor=monitor)
            done["forms_verified"] += 1
    for query in Query.objects.open().select_related("patient__site").order_by("pk"):
        if query.status == Query.Status.OPEN:
            query = crf.query_answer(query=query, text=ANSWER, actor=_nurse(query.patient, nurses))
        crf.query_close(query=query, actor=dm, text="Thank you")
        done["queries_closed"] += 1
    for report in SaeReport.objects.filter(retired_at__isnull=True).select_related("adverse_event__patient__site__pi"):
        if safety.pi_signed(report):
            continue
        ae = report.adverse_event
        safety.sae_sign(
            report=report,
            actor=ae.patient.site.pi,
            password=DEMO_PASSWORD,
            assessment={
                "pi_causality_lutathera": ae.causality_lutathera or "unrelated",
                "pi_causality_amino_acids": ae.causality_amino_acids or "unrelated",
                "pi_causality_procedures": ae.causality_procedures or "unrelated",
                "pi_expectedness": "unexpected",
            },
        )
        done["saes_signed"] += 1
    return done
