"""CRF writes: the visit schedule, the form lifecycle, SDV, locks and queries."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from simple_history.utils import bulk_create_with_history

from accounts.audit import audit_event_record, record_create, record_update
from accounts.dataset_guard import dataset_write_guard
from accounts.errors import DomainError, EditConflict, NotPermitted
from accounts.models import AuditEvent, User
from core.policy import Action, can, form_entry_action, require
from patients.models import Patient

from . import schedule
from .lifecycle import FOLLOW_UP_VISIT_PREFIX, patient_status_refresh
from .locking import entry_guard, query_guard
from .models import (
    Casebook,
    CrfForm,
    Demographics,
    EndOfStudy,
    FormStatus,
    Laboratory,
    LutatheraDosing,
    Query,
    QueryMessage,
    Visit,
)
from .validators import CheckResult


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
def visits_schedule_create(*, patient: Patient, arm: str, randomised_on: dt.date, actor: User | None) -> list[Visit]:
    """Create the patient's visits for their arm (idempotent), each with its first history row.

    In two statements (django-simple-history's bulk_create_with_history) rather than fourteen saves
    and fourteen history inserts: this runs inside randomisation's transaction, which holds the
    patient's lock while a ward of nurses may be randomising at once.
    """
    if patient.visits.exists():
        return list(patient.visits.all())
    visits = [
        Visit(
            patient=patient,
            code=definition.code,
            label=definition.label,
            sequence=index,
            target_date=target,
            window_start=start,
            window_end=end,
        )
        for index, (definition, target, start, end) in enumerate(
            schedule.planned_visits(arm=arm, liver_resection=patient.liver_resection_date, randomised_on=randomised_on)
        )
    ]
    for visit in visits:
        visit._change_reason = f"Scheduled at randomisation (arm {arm})"
    log = Visit(
        patient=patient,
        code=schedule.LOG.code,
        label=schedule.LOG.label,
        sequence=999,
        target_date=randomised_on,
        window_start=randomised_on,
        window_end=max(v.window_end for v in visits),
    )
    log._change_reason = "Patient logs opened at randomisation"
    visits.append(log)
    now = timezone.now()
    for visit in visits:
        visit._history_user = actor
        visit.created_at = visit.updated_at = now
    # bulk_create_with_history bypasses record_create and its lock backstop.
    entry_guard("the visit schedule")
    created = bulk_create_with_history(visits, Visit, default_user=actor, default_date=now)
    if any(v.pk is None for v in created):  # a backend that returns no keys: read them back
        created = list(patient.visits.order_by("sequence"))
    return created


def _on_randomised(sender, allocation, actor, **kwargs):
    visits_schedule_create(
        patient=allocation.patient,
        arm=allocation.arm,
        randomised_on=timezone.localtime(allocation.randomised_at).date(),
        actor=actor,
    )


@transaction.atomic
def visits_reschedule_after_dose(*, patient: Patient, actor: User | None) -> list[Visit]:
    """Move the later dosing and safety visits after the actual dose dates; never the follow-up grid."""
    doses = {
        d.visit.code: d.dose_date
        for d in LutatheraDosing.objects.filter(patient=patient).select_related("visit")
        if d.dose_date
    }
    allocation_arm = getattr(getattr(patient, "allocation", None), "arm", "B")
    randomised = patient.visits.filter(code="RAND").first()
    planned = schedule.planned_visits(
        arm=allocation_arm,
        liver_resection=patient.liver_resection_date,
        randomised_on=randomised.target_date if randomised else timezone.localdate(),
        cycle_1_dose=doses.get("C1"),
        cycle_2_dose=doses.get("C2"),
    )
    moved = []
    by_code = {v.code: v for v in patient.visits.all()}
    for definition, target, start, end in planned:
        visit = by_code.get(definition.code)
        if visit is None or visit.done_on or definition.anchor not in (schedule.CYCLE_1, schedule.CYCLE_2):
            continue
        if visit.target_date != target:
            reason = f"Rescheduled after the actual {schedule.ANCHOR_LABELS[definition.anchor]}"
            moved.append(
                record_update(
                    obj=visit,
                    data={"target_date": target, "window_start": start, "window_end": end},
                    actor=actor,
                    reason=reason,
                )
            )
    return moved


@transaction.atomic
def visits_reanchor_on_liver_resection(*, patient: Patient, actor: User | None, reason: str) -> list[Visit]:
    """After the liver-resection date was corrected: move every visit not yet done to the schedule
    on the new date (by the same offset where the visit hangs on the resection, or chains on a
    target that did); visits done stay on their date and are flagged if now outside their window."""
    allocation = getattr(patient, "allocation", None)
    randomised = patient.visits.filter(code="RAND").first()
    if allocation is None or randomised is None:
        return []
    doses = {
        d.visit.code: d.dose_date
        for d in LutatheraDosing.objects.filter(patient=patient).select_related("visit")
        if d.dose_date
    }
    planned = schedule.planned_visits(
        arm=allocation.arm,
        liver_resection=patient.liver_resection_date,
        randomised_on=randomised.target_date,
        cycle_1_dose=doses.get("C1"),
        cycle_2_dose=doses.get("C2"),
    )
    by_code = {v.code: v for v in patient.visits.all()}
    changed = []
    for _definition, target, start, end in planned:
        visit = by_code.get(_definition.code)
        if visit is None:
            continue
        if visit.done_on:
            outside = not (start <= visit.done_on <= end)
            flag = (
                f"Done {visit.done_on:%d %b %Y}, outside the window {start:%d %b %Y}–{end:%d %b %Y} on the "
                "corrected liver resection date."
                if outside
                else ""
            )
            if flag != visit.window_flag:
                changed.append(
                    record_update(
                        obj=visit,
                        data={"window_flag": flag},
                        actor=actor,
                        reason=f"Liver resection date corrected: {reason}",
                    )
                )
        elif visit.target_date != target:
            changed.append(
                record_update(
                    obj=visit,
                    data={"target_date": target, "window_start": start, "window_end": end},
                    actor=actor,
                    reason=f"Re-anchored on the corrected liver resection date: {reason}",
                )
            )
    return changed


# The CRF fields that show a registration date: the registration is the source (protocol, CRF 6 and 7).
REGISTRATION_DATE_FIELDS = {
    "liver_resection_date": ("liver_resection", "resection_date"),
    "primary_resection_date": ("histopathology", "primary_resection_date"),
}


def _on_registration_corrected(sender, patient, changes, actor, reason, **kwargs):
    """patients.signals.registration_corrected: the schedule and the CRFs follow the registration."""
    from .registry import FORMS

    if "liver_resection_date" in changes:
        visits_reanchor_on_liver_resection(patient=patient, actor=actor, reason=reason)
    for name, (form_code, field) in REGISTRATION_DATE_FIELDS.items():
        if name not in changes or form_code not in FORMS:
            continue
        for form in FORMS[form_code].objects.filter(patient=patient):
            if getattr(form, field) not in (None, getattr(patient, name)):
                record_update(
                    obj=form,
                    data={field: getattr(patient, name)},
                    actor=actor,
                    reason=f"Shows the corrected registration date: {reason}",
                )
    casebook_refresh(patient=patient, actor=actor, reason=f"Registration data corrected: {reason}")


@transaction.atomic
def visit_add_unscheduled(*, patient: Patient, day: dt.date, reason: str, actor: User) -> Visit:
    require(actor, Action.CRF_ENTER, patient.site)
    entry_guard()
    if not reason.strip():
        raise DomainError("Give the reason for the unscheduled visit.", field="reason")
    number = patient.visits.filter(code__startswith="U").count() + 1
    return record_create(
        obj=Visit(
            patient=patient,
            code=f"U{number}",
            label=f"Unscheduled visit {number}",
            sequence=900 + number,
            target_date=day,
            window_start=day,
            window_end=day,
            unscheduled_reason=reason,
        ),
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def visit_mark_missed(*, visit: Visit, reason: str, actor: User) -> Visit:
    require(actor, Action.CRF_ENTER, visit.patient.site)
    entry_guard()
    if visit.is_log or visit.done_on:
        raise DomainError("Only a visit not done can be recorded as missed.")
    if not reason.strip():
        raise DomainError("Give the reason the visit was missed.", field="reason")
    return record_update(obj=visit, data={"missed_reason": reason}, actor=actor, reason=f"Missed: {reason}")


@transaction.atomic
def visit_mark_done(*, visit: Visit, day: dt.date, actor: User) -> Visit:
    require(actor, Action.CRF_ENTER, visit.patient.site)
    entry_guard()
    if visit.is_log:
        raise DomainError("The logs are not a visit.")
    if day > timezone.localdate():
        raise DomainError("The date is in the future.", field="day")
    if day < visit.patient.liver_resection_date:
        raise DomainError("The visit cannot be before the liver resection.", field="day")
    data = {"done_on": day, "missed_reason": ""}
    reason = "Visit done" if not visit.done_on else f"Visit date corrected from {visit.done_on:%d %b %Y}"
    visit = record_update(obj=visit, data=data, actor=actor, reason=reason)
    if visit.code.startswith(FOLLOW_UP_VISIT_PREFIX):
        patient_status_refresh(patient=visit.patient, actor=actor, reason=f"{visit.code} done")
    return visit


@transaction.atomic
def crf_mark_not_done(*, visit: Visit, form_code: str, reason: str, actor: User):
    """Record that an expected form will not be done at this visit (it then counts as accounted for)."""
    from .access import expected_forms
    from .models import FormNotDone
    from .registry import FORMS

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


EDIT_CHECK_REASON = "Raised by an edit check"


def _query_on(form: CrfForm, field: str, text: str, **fields) -> Query:
    """An unsaved query on ``field`` of ``form``."""
    return Query(
        patient=form.patient,
        form_code=form.FORM_CODE,
        form_id=form.pk,
        visit_code=form.visit.code,
        field=field,
        text=text,
        **fields,
    )


def automatic_query(form: CrfForm, field: str, message: str) -> Query:
    """The (unsaved) query an edit check's soft failure raises on ``form``."""
    return _query_on(form, field, message, automatic=True)


RESOLVED_BY_DATA_CHANGE = "Resolved by data change: the edit check no longer fires."


def _raise_soft_queries(form: CrfForm, result: CheckResult) -> None:
    """Raise a query for each new soft finding, and close the open automatic queries whose finding
    is gone: the saved data no longer fires the check, so nothing is left to answer. Only queries
    an edit check raised close this way; a query a person raised stays until a person closes it."""
    findings = set(result.soft)
    open_queries = list(Query.objects.open().filter(form_code=form.FORM_CODE, form_id=form.pk))
    open_texts = {(q.field, q.text) for q in open_queries}
    for field, message in result.soft:
        if (field, message) not in open_texts:
            query = record_create(obj=automatic_query(form, field, message), actor=None, reason=EDIT_CHECK_REASON)
            audit_event_record(kind=AuditEvent.Kind.QUERY_RAISED, actor=None, target=query, summary=message)
            open_texts.add((field, message))
    for query in open_queries:
        if query.automatic and query.raised_by_id is None and (query.field, query.text) not in findings:
            query_close_resolved(query=query)


def query_close_resolved(*, query: Query) -> Query:
    """Close an automatic query by the system, with the audited note that a data change resolved it."""
    QueryMessage.objects.create(query=query, author=None, text=RESOLVED_BY_DATA_CHANGE)
    query = record_update(
        obj=query,
        data={"status": Query.Status.CLOSED, "closed_at": timezone.now()},
        actor=None,
        reason=RESOLVED_BY_DATA_CHANGE,
    )
    audit_event_record(kind=AuditEvent.Kind.QUERY_CLOSED, actor=None, target=query, summary=RESOLVED_BY_DATA_CHANGE)
    return query


def _derived_fields(model, merged: dict, *, patient: Patient, visit: Visit) -> dict:
    from .labs import form_derived_fields

    return form_derived_fields(model, merged, patient=patient, visit=visit)


def laboratory_rederive(*, patient: Patient, actor: User | None, changed: CrfForm) -> list[Laboratory]:
    """Bring the derived fields of the patient's other laboratory forms up to date after a change
    they depend on (the baseline panel, the weight, the first dose date), with the reason in their
    history. Locked forms keep their values: a locked form changes only after unlocking."""
    from . import labs

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


@transaction.atomic
def crf_verify(*, form: CrfForm, actor: User) -> CrfForm:
    """Source data verification by a monitor."""
    require(actor, Action.SDV, form.patient.site)
    if not form.can_verify():
        raise DomainError("Only a complete form can be verified.")
    return record_update(
        obj=form,
        data={"status": FormStatus.VERIFIED, "verified_at": timezone.now(), "verified_by": actor},
        actor=actor,
        reason="Source data verified",
    )


@transaction.atomic
def crf_lock(*, form: CrfForm, actor: User) -> CrfForm:
    require(actor, Action.FORM_LOCK, form.patient.site)
    if not form.can_lock():
        raise DomainError("Only a complete or verified form can be locked.")
    form = record_update(
        obj=form,
        data={"status": FormStatus.LOCKED, "locked_at": timezone.now(), "locked_by": actor},
        actor=actor,
        reason="Locked",
    )
    audit_event_record(kind=AuditEvent.Kind.LOCKED, actor=actor, target=form, summary=f"{form} locked")
    return form


@transaction.atomic
def crf_unlock(*, form: CrfForm, actor: User, reason: str) -> CrfForm:
    require(actor, Action.FORM_UNLOCK, form.patient.site)
    if form.status != FormStatus.LOCKED:
        raise DomainError("The form is not locked.")
    if not reason.strip():
        raise DomainError("Give the reason for unlocking.", field="reason")
    back = FormStatus.VERIFIED if form.verified_at else FormStatus.COMPLETE
    form = record_update(
        obj=form, data={"status": back, "locked_at": None, "locked_by": None}, actor=actor, reason=f"Unlocked: {reason}"
    )
    audit_event_record(
        kind=AuditEvent.Kind.UNLOCKED, actor=actor, target=form, reason=reason, summary=f"{form} unlocked"
    )
    return form


@transaction.atomic
def query_raise(*, form: CrfForm, field: str, text: str, actor: User) -> Query:
    require(actor, Action.QUERY_RAISE, form.patient.site)
    query_guard()
    if field not in form.data_field_names():
        raise DomainError("Choose a field of this form.", field="field")
    if not text.strip():
        raise DomainError("Write the query.", field="text")
    query = record_create(obj=_query_on(form, field, text, raised_by=actor), actor=actor, reason="Query raised")
    audit_event_record(kind=AuditEvent.Kind.QUERY_RAISED, actor=actor, target=query, summary=text[:200])
    return query


@transaction.atomic
def query_answer(*, query: Query, text: str, actor: User) -> Query:
    require(actor, Action.QUERY_ANSWER, query.patient.site)
    query_guard()
    if query.status == Query.Status.CLOSED:
        raise DomainError("This query is closed.")
    if not text.strip():
        raise DomainError("Write the answer.", field="text")
    QueryMessage.objects.create(query=query, author=actor, text=text)
    return record_update(obj=query, data={"status": Query.Status.ANSWERED}, actor=actor, reason=f"Answered: {text}")


def query_may_close(*, query: Query, actor: User) -> bool:
    """Whether ``actor`` may close or re-open ``query``: any query (QUERY_CLOSE), or one they raised
    themselves (QUERY_CLOSE_OWN). Edit-check queries have no raiser: only QUERY_CLOSE closes them."""
    site = query.patient.site
    own = query.raised_by_id is not None and query.raised_by_id == actor.pk
    return can(actor, Action.QUERY_CLOSE, site) or (own and can(actor, Action.QUERY_CLOSE_OWN, site))


def query_close_check(*, query: Query, actor: User) -> None:
    if not query_may_close(query=query, actor=actor):
        raise NotPermitted("The person who raised the query, or the data manager, closes or re-opens it.")


@transaction.atomic
def query_close(*, query: Query, actor: User, text: str = "") -> Query:
    query_close_check(query=query, actor=actor)
    query_guard()
    if text:
        QueryMessage.objects.create(query=query, author=actor, text=text)
    query = record_update(
        obj=query,
        data={"status": Query.Status.CLOSED, "closed_at": timezone.now()},
        actor=actor,
        reason=text or "Closed",
    )
    audit_event_record(kind=AuditEvent.Kind.QUERY_CLOSED, actor=actor, target=query, summary=text[:200])
    return query


@transaction.atomic
def query_close_many(*, queries, actor: User, text: str) -> list[Query]:
    """Close each of ``queries`` (a queryset already cut to the actor's sites) with the same reason,
    each audited as query_close audits one; all or none."""
    require(actor, Action.QUERY_CLOSE)
    if not text.strip():
        raise DomainError("Give the reason for closing the queries.", field="text")
    # Rows locked in id order: two bulk closes over overlapping queries cannot deadlock.
    return [query_close(query=q, actor=actor, text=text) for q in queries.select_for_update().order_by("pk")]


@transaction.atomic
def query_reopen(*, query: Query, actor: User, text: str) -> Query:
    query_close_check(query=query, actor=actor)
    query_guard()
    if not text.strip():
        raise DomainError("Say why the query is re-opened.", field="text")
    QueryMessage.objects.create(query=query, author=actor, text=text)
    return record_update(
        obj=query, data={"status": Query.Status.OPEN, "closed_at": None}, actor=actor, reason=f"Re-opened: {text}"
    )


# Casebook sign-off at end of study.

CASEBOOK_MEANING = "I approve the data in this casebook"


# Apps above crf (safety) name the records of a patient that the casebook sign-off covers; crf
# cannot import them (dependency direction), so each registers a function at start-up.
CASEBOOK_PARTS: list = []


def casebook_part_register(part) -> None:
    """``part(patient)`` yields (label, record) pairs to include in the casebook digest."""
    if part not in CASEBOOK_PARTS:
        CASEBOOK_PARTS.append(part)


def _patient_parts(patient: Patient):
    from patients.models import Consent, EligibilityAssessment, Withdrawal

    for label, model in (("consent", Consent), ("eligibility", EligibilityAssessment), ("withdrawal", Withdrawal)):
        for record in model.objects.filter(patient=patient).order_by("pk"):
            yield label, record


def casebook_digest(patient: Patient) -> tuple[str, int]:
    """SHA-256 over the content digests of all of the patient's data the PI's sign-off covers
    (protocol "Locks and sign-off"): every CRF, eligibility, consent and withdrawal, and what the
    apps above register (AEs and SAE reports)."""
    import hashlib

    from accounts.signatures import content_digest

    from .registry import FORMS

    parts = []
    for code in sorted(FORMS):
        for form in FORMS[code].objects.filter(patient=patient).order_by("pk"):
            parts.append(f"{code}:{form.pk}:{content_digest(form)}")
    for source in (_patient_parts, *CASEBOOK_PARTS):
        for label, record in source(patient):
            parts.append(f"{label}:{record.pk}:{content_digest(record)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest(), len(parts)


def casebook_signature_status(patient: Patient) -> list:
    """The sign-off's signatures, each invalid as soon as any covered data differ from what was
    signed, also when the change came through a path that does not refresh the casebook."""
    from accounts.signatures import signature_status

    casebook = Casebook.objects.filter(patient=patient).first()
    if casebook is None:
        return []
    current = casebook_digest(patient)[0] == casebook.forms_digest
    return [(signature, valid and current) for signature, valid in signature_status(obj=casebook)]


def casebook_refresh(*, patient: Patient, actor: User | None, reason: str) -> None:
    """After a form changed: bring the casebook's digest up to date, invalidating a stale signature."""
    casebook = Casebook.objects.filter(patient=patient).first()
    if casebook is None:
        return
    digest, count = casebook_digest(patient)
    if digest != casebook.forms_digest:
        record_update(obj=casebook, data={"forms_digest": digest, "forms_count": count}, actor=actor, reason=reason)


def casebook_blockers(patient: Patient) -> list[str]:
    """What stands in the way of the PI's sign-off."""
    from .registry import FORMS

    blockers = []
    end = FORMS["end_of_study"].objects.filter(patient=patient).first()
    if end is None or end.status == FormStatus.IN_PROGRESS:
        blockers.append("The end of study form is not complete.")
    open_forms = sum(
        model.objects.filter(patient=patient, status=FormStatus.IN_PROGRESS).count() for model in FORMS.values()
    )
    if open_forms:
        blockers.append(f"{open_forms} form(s) still in progress.")
    queries = Query.objects.open().filter(patient=patient).count()
    if queries:
        blockers.append(f"{queries} query(ies) still open.")
    return blockers


def casebook_sign(
    *,
    patient: Patient,
    actor: User,
    password: str,
    otp_token: str = "",
    ip_address: str | None = None,
    username: str | None = None,
) -> Casebook:
    """The PI (or a delegated investigator) signs the patient's casebook with an e-signature."""
    from accounts.signatures import signature_apply, signature_verify

    require(actor, Action.CASEBOOK_SIGN, patient.site)
    dataset_write_guard(what="the casebook sign-off", soft_lock_allows=True)
    blockers = casebook_blockers(patient)
    if blockers:
        raise DomainError("Not ready to sign: " + " ".join(blockers))
    with transaction.atomic():
        digest, count = casebook_digest(patient)
        casebook = Casebook.objects.filter(patient=patient).first()
        if casebook is None:
            casebook = record_create(
                obj=Casebook(patient=patient, forms_digest=digest, forms_count=count),
                actor=actor,
                reason="Casebook opened for sign-off",
            )
        elif casebook.forms_digest != digest:
            casebook = record_update(
                obj=casebook, data={"forms_digest": digest, "forms_count": count}, actor=actor, reason="Sign-off"
            )
    # Outside the transaction: a refused signature must leave its audit record behind.
    signature_verify(
        user=actor,
        password=password,
        meaning=CASEBOOK_MEANING,
        obj=casebook,
        ip_address=ip_address,
        otp_token=otp_token,
        username=username,
    )
    signature_apply(user=actor, meaning=CASEBOOK_MEANING, obj=casebook, ip_address=ip_address)
    return casebook


# Normal ranges of the site laboratories (protocol CRF 9: data a trial manager can maintain).


@transaction.atomic
def lab_reference_range_add(
    *,
    site,
    limit: str,
    value,
    effective_from: dt.date,
    actor: User,
    sex: str = "",
    effective_to: dt.date | None = None,
):
    """Record a normal-range limit of a site's laboratory from a date; the range of the same limit
    (and sex) still in force ends the day before, so one range applies on any day."""
    from .models import LabReferenceRange

    require(actor, Action.LAB_RANGES_MANAGE)
    if limit not in LabReferenceRange.Limit.values:
        raise DomainError("Choose the limit.", field="limit")
    if effective_to and effective_to < effective_from:
        raise DomainError("The range ends before it starts.", field="effective_to")
    current = (
        LabReferenceRange.objects.select_for_update()
        .filter(site=site, limit=limit, sex=sex, effective_to__isnull=True, retired_at__isnull=True)
        .first()
    )
    if current is not None:
        if current.effective_from >= effective_from:
            raise DomainError(
                f"A range of this limit is in force from {current.effective_from:%d %b %Y}: start after it.",
                field="effective_from",
            )
        record_update(
            obj=current,
            data={"effective_to": effective_from - dt.timedelta(days=1)},
            actor=actor,
            reason="Superseded by a new range",
        )
    return record_create(
        obj=LabReferenceRange(
            site=site, limit=limit, value=value, sex=sex, effective_from=effective_from, effective_to=effective_to
        ),
        actor=actor,
        reason="Laboratory normal range recorded",
    )
