"""The form lifecycle: save (edit checks, derived fields, reasons, conflicts), mark complete (in the
save's transaction when asked together), mark not done."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.models import AuditEvent, User
from core.audit import audit_event_record, record_create, record_update
from core.errors import DomainError, EditConflict
from core.policy import Action, form_entry_action, require
from crf import labs
from crf.access import expected_forms
from crf.lifecycle import FOLLOW_UP_VISIT_PREFIX, patient_status_refresh
from crf.locking import entry_guard
from crf.models import (
    CrfForm,
    Demographics,
    EndOfStudy,
    FormNotDone,
    FormStatus,
    Laboratory,
    LutatheraDosing,
    Visit,
)
from crf.registry import FORMS
from crf.validators import CheckResult
from patients.models import Patient

from .casebook import casebook_refresh
from .queries import _raise_soft_queries
from .schedule import visits_reschedule_after_dose


class CheckFailed(DomainError):
    """Hard edit checks failed; ``errors`` holds (field, message) for each."""

    code = "hard_check"

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _f, message in errors))
        self.errors = errors


class FormIncomplete(DomainError):
    """A form cannot be marked complete: required fields are empty. ``errors`` names each one (and
    the summary at the top), so the page and the API show the message at the missing fields."""

    code = "incomplete"

    def __init__(self, form: CrfForm, missing: list[str]) -> None:
        labels = [str(form._meta.get_field(n).verbose_name) for n in missing]
        super().__init__("Still missing: " + ", ".join(labels) + ".")
        self.errors = [(None, self.message)] + [(n, "Required to mark the form complete.") for n in missing]


@transaction.atomic
def crf_mark_not_done(*, visit: Visit, form_code: str, reason: str, actor: User):
    """Record that an expected form will not be done at this visit (it then counts as accounted for)."""
    require(actor, form_entry_action(form_code), visit.patient.site)
    entry_guard()
    if form_code not in expected_forms(visit) or FORMS[form_code].REPEATING:
        raise DomainError("This form is not expected at this visit.")
    if FORMS[form_code].objects.filter(visit=visit).exists():
        raise DomainError("This form has data: it cannot be marked not done.")
    if not reason.strip():
        raise DomainError("Give the reason the form was not done.", field="reason")
    return record_create(
        obj=FormNotDone(visit=visit, form_code=form_code, reason=reason), actor=actor, reason=f"Not done: {reason}"
    )


def _validator(model):
    return import_string(model.VALIDATOR)() if model.VALIDATOR else None


def crf_check(model, data: dict, *, patient: Patient, visit: Visit) -> CheckResult:
    validator = _validator(model)
    return validator.check(data, patient=patient, visit=visit) if validator else CheckResult()


@transaction.atomic
def crf_save(
    *,
    model,
    visit: Visit,
    data: dict,
    actor: User,
    reason: str = "",
    expected_version: int | None = None,
    instance: CrfForm | None = None,
    complete: bool = False,
    complete_if_ready: bool = False,
) -> CrfForm:
    """Save a form, partly filled or not. Hard checks refuse; soft checks save and raise queries.

    ``complete`` also marks it complete in the same transaction ("save and mark complete"): if the
    completion is refused (a required field missing), nothing is saved and the error says which
    fields, so the nurse's next save is not a conflict with a half-done save of her own (issue 21).
    ``complete_if_ready`` ("save and next") marks it complete only when every required field is given.

    Once a form was complete, a change needs a reason; a change to a verified form clears the
    verification and re-opens it (visibly, and in the audit trail). Locked forms cannot change.
    ``expected_version`` is the version the user opened (0 for a new form): a save over someone
    else's newer save is refused with an EditConflict. Repeating forms (logs) pass the ``instance``
    being edited, or none to add an entry.
    """
    patient = visit.patient
    require(actor, form_entry_action(model.FORM_CODE), patient.site)
    entry_guard()
    if model.REPEATING:
        existing = model.objects.select_for_update().get(pk=instance.pk) if instance else None
    else:
        # Lock the visit row so two first saves of the same form are serialised.
        Visit.objects.select_for_update().filter(pk=visit.pk).first()
        existing = model.objects.filter(visit=visit).first()
    if existing is not None and expected_version == 0:
        raise EditConflict(
            f"{existing.history.first().history_user or 'Another user'} started this form after you opened it. "
            "Your entries were not saved; review the current values below and enter your changes again.",
            changes=[],
        )
    if existing is not None and not existing.can_edit():
        raise DomainError("This form is locked. The data manager can unlock it with a reason.", code="locked")
    if existing is None and model.NEEDS_SAMPLE_CONSENT and not patient.sample_consent_stands():
        raise DomainError(
            f"{patient.trial_number} has no standing consent to NETest/biobank samples: no sample may be "
            "recorded (protocol CRF 13). Record the consent first if the patient gives it.",
            code="no_sample_consent",
        )
    merged = {name: getattr(existing, name) for name in model.data_field_names()} if existing else {}
    merged.update(data)
    derived = _derived_fields(model, merged, patient=patient, visit=visit)
    if existing is not None:
        derived = {n: v for n, v in derived.items() if getattr(existing, n) != v}
    # Derived fields are written with the entries, in the same history row, never typed.
    data = {**{n: v for n, v in data.items() if n not in model.DERIVED_FIELDS}, **derived}
    merged.update(derived)
    result = crf_check(model, merged, patient=patient, visit=visit)
    if result.hard:
        raise CheckFailed(result.hard)
    if existing is None:
        form = record_create(
            obj=model(patient=patient, visit=visit, status=FormStatus.IN_PROGRESS, **data),
            actor=actor,
            reason="First entry",
        )
    else:
        was = existing.status
        version_before = existing.version
        # A saved value changes only with a reason (who/when/old/new are audited anyway). Filling a
        # field left empty on an earlier partial save is first entry, not a change of data.
        overwrites = [
            n
            for n, v in data.items()
            if n not in model.DERIVED_FIELDS and getattr(existing, n) not in (None, "") and getattr(existing, n) != v
        ]
        if not overwrites and existing.status == FormStatus.IN_PROGRESS and not reason.strip():
            reason = "First entry of fields left empty on an earlier save"
        form = record_update(obj=existing, data=data, actor=actor, reason=reason, expected_version=expected_version)
        if form.version != version_before and was in (FormStatus.COMPLETE, FormStatus.VERIFIED):
            reopen = {"status": FormStatus.IN_PROGRESS}
            if was == FormStatus.VERIFIED:
                reopen |= {"verified_at": None, "verified_by": None}
                audit_event_record(
                    kind=AuditEvent.Kind.RECORD_CHANGED,
                    actor=actor,
                    target=form,
                    reason=reason,
                    summary=f"{model.FORM_TITLE} of {patient.trial_number} {visit.code} changed after "
                    "source data verification: verification cleared",
                )
            form = record_update(obj=form, data=reopen, actor=actor, reason=f"Re-opened by a change: {reason}")
    _raise_soft_queries(form, result)
    _visit_done_from_form(form, actor)
    if model in (Laboratory, Demographics) or (model is LutatheraDosing and "dose_date" in data):
        laboratory_rederive(patient=patient, actor=actor, changed=form)
    if model is EndOfStudy or visit.code.startswith(FOLLOW_UP_VISIT_PREFIX):
        patient_status_refresh(patient=patient, actor=actor, reason=f"{model.FORM_TITLE} ({visit.code})")
    casebook_refresh(patient=patient, actor=actor, reason=f"{model.FORM_TITLE} ({visit.code}) changed: {reason}")
    if model is LutatheraDosing and "dose_date" in data:
        visits_reschedule_after_dose(patient=patient, actor=actor)
    if form.status == FormStatus.IN_PROGRESS and (complete or (complete_if_ready and not form.missing_fields())):
        # Raises inside this transaction: a refused completion rolls the save back with it.
        form = crf_mark_complete(form=form, actor=actor)
    return form


# The date on a form that tells when its visit took place.
VISIT_DATE_FIELDS = ("visit_date", "dose_date", "sample_date")


def _visit_done_from_form(form: CrfForm, actor: User) -> None:
    visit = form.visit
    if visit.done_on or visit.is_log or visit.missed_reason:
        return
    day = next((getattr(form, n) for n in VISIT_DATE_FIELDS if getattr(form, n, None)), None)
    if day:
        record_update(obj=visit, data={"done_on": day}, actor=actor, reason=f"Visit date from {form.FORM_TITLE}")


def _derived_fields(model, merged: dict, *, patient: Patient, visit: Visit) -> dict:
    return labs.form_derived_fields(model, merged, patient=patient, visit=visit)


def laboratory_rederive(*, patient: Patient, actor: User | None, changed: CrfForm) -> list[Laboratory]:
    """Bring the derived fields of the patient's other laboratory forms up to date after a change
    they depend on (the baseline panel, the weight, the first dose date), with the reason in their
    history. Locked forms keep their values: a locked form changes only after unlocking."""
    updated = []
    for lab in Laboratory.objects.filter(patient=patient).select_related("visit").order_by("sample_date", "pk"):
        if (lab.pk == changed.pk and isinstance(changed, Laboratory)) or lab.status == FormStatus.LOCKED:
            continue
        values = {n: getattr(lab, n) for n in Laboratory.data_field_names()}
        fresh = labs.laboratory_derive(values, patient=patient, visit=lab.visit)
        changes = {n: v for n, v in fresh.items() if getattr(lab, n) != v and n in Laboratory.DERIVED_FIELDS}
        if changes:
            updated.append(
                record_update(
                    obj=lab,
                    data=changes,
                    actor=actor,
                    reason=f"Derived values recalculated: {changed.FORM_TITLE} ({changed.visit.code}) changed",
                )
            )
    return updated


@transaction.atomic
def crf_mark_complete(*, form: CrfForm, actor: User) -> CrfForm:
    action = Action.CRF_COMPLETE if form_entry_action(form.FORM_CODE) == Action.CRF_ENTER else Action.SAMPLE_ENTER
    require(actor, action, form.patient.site)
    entry_guard()
    if form.status not in (FormStatus.IN_PROGRESS,):
        raise DomainError(f"The form is {form.get_status_display().lower()}.")
    missing = form.missing_fields()
    if missing:
        raise FormIncomplete(form, missing)
    result = crf_check(
        type(form), {n: getattr(form, n) for n in form.data_field_names()}, patient=form.patient, visit=form.visit
    )
    if result.hard:
        raise CheckFailed(result.hard)
    return record_update(
        obj=form,
        data={"status": FormStatus.COMPLETE, "completed_at": timezone.now(), "completed_by": actor},
        actor=actor,
        reason="Marked complete",
    )
