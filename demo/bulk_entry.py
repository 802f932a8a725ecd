"""Bulk data entry for the simulated trial: the rows a nurse's clicks would leave, written in batches.

Why it exists: benchmarks need a trial of 10,000 patients with three years of follow-up (about half
a million forms). Entering that through ``crf.services`` costs ~50 ms a form, days of build time;
this path inserts the same rows with ``bulk_create``, a batch of patients at a time.

It is a second implementation of the CRF save's steps, so it is held to the services by a test:
``tests/demo/test_write_path.py`` enters one scripted patient through ``crf.services`` and through
the methods below (named after the service each stands in for) and compares every row, history
row, status, query, query message and audit event. A rule changed in a service fails that test
until it is changed here too.

What each method does, as its service does for the same input:
- ``crf_save_new``: a new form passes the model field validation and the edit checks
  (``crf.services.crf_check``; a hard finding raises ``CheckFailed``), gets its derived fields
  (``crf.labs.form_derived_fields``, reading the database as the service does), its "First entry"
  history row, an automatic query with its QUERY_RAISED event per distinct soft finding, the
  visit dated from the form, the patient's status refreshed with the service's reason, and for a
  Lutathera dose the later visits rescheduled;
- ``crf_mark_complete``, ``crf_verify``, ``crf_mark_not_done``, ``visit_mark_done``,
  ``visit_mark_missed``, ``query_raise``, ``query_answer``, ``query_close``: the same guards, field
  values, history rows (user, reason, incrementing ``version``), messages and audit events.

The derived fields and the edit checks read other forms from the database, so a caller enters
forms in the order a nurse would and ``flush``es before the next form of the same patient depends
on one not yet written (the simulation flushes after each form, across a batch of patients).

What it skips: row locks and the optimistic version check (nothing else writes during a build),
the permission and dataset-lock guards (the build runs as the demo's delegated staff on an unlocked
trial), signature invalidation (nothing bulk-written is signed), the casebook digest refresh (no
casebook is signed during a build) and re-deriving the other laboratory forms after a change
(forms are entered in time order, so an earlier panel never depends on a later one; the test
covers a dose and a later panel). Records that carry a signature, a randomisation, a notification
or a registration step are not written here: the simulation makes them through the services.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import connection, models
from django.utils import timezone

from accounts.models import AuditEvent
from core.errors import DomainError
from crf import schedule
from crf.labs import form_derived_fields
from crf.lifecycle import FOLLOW_UP_VISIT_PREFIX, patient_status_refresh
from crf.models import EndOfStudy, FormNotDone, FormStatus, LutatheraDosing, Query, QueryMessage
from crf.services import EDIT_CHECK_REASON, VISIT_DATE_FIELDS, CheckFailed, automatic_query, crf_check

BATCH = 2000


_TRACKED: dict[type, tuple[type, list[str]]] = {}


def _tracked(model) -> tuple[type, list[str]]:
    """(historical model, the attribute names its rows record but the primary key), looked up once."""
    if model not in _TRACKED:
        history_model = model.history.model  # building the manager is slow: once per model
        _TRACKED[model] = (history_model, [f.attname for f in history_model.tracked_fields if f.attname != "id"])
    return _TRACKED[model]


def snapshot(obj: models.Model) -> dict:
    """The values a history row records (every tracked field but the primary key)."""
    return {name: getattr(obj, name) for name in _tracked(type(obj))[1]}


class BulkEntry:
    """New and changed trial records with the audit steps that produced them, inserted together."""

    def __init__(self) -> None:
        self.new: dict[type, list[tuple[models.Model, list]]] = defaultdict(list)
        self.steps: dict[int, list] = {}  # id(new obj) → its steps
        self.changed: dict[int, tuple[models.Model, list, set]] = {}  # id(saved obj) → (obj, steps, fields)
        self.events: list = []  # callables building an AuditEvent once the target has its id
        self.messages: list[QueryMessage] = []
        self.query_forms: list[tuple[Query, models.Model]] = []  # queries on forms not inserted yet
        self.status_reasons: dict[int, tuple] = {}  # patient id → (patient, actor, the first source's reason)
        self.doses: dict[int, dict] = {}  # patient id → visit code → Lutathera dose date

    # Recording -------------------------------------------------------------------------------

    def create(self, obj: models.Model, *, user, reason: str) -> models.Model:
        """A new record, as ``record_create`` saves it (its first history row)."""
        now = timezone.now()
        obj.created_at = obj.updated_at = now
        obj.version = 1
        steps = [("+", user, reason or "Created", now, snapshot(obj))]
        self.new[type(obj)].append((obj, steps))
        self.steps[id(obj)] = steps
        return obj

    def update(self, obj: models.Model, data: dict, *, user, reason: str) -> models.Model:
        """A change to a record (new in this batch or already saved), as ``record_update`` makes it."""
        if all(getattr(obj, k) == v for k, v in data.items()):
            return obj
        for name, value in data.items():
            setattr(obj, name, value)
        now = timezone.now()
        obj.version += 1
        obj.updated_at = now
        step = ("~", user, reason.strip(), now, snapshot(obj))
        if obj.pk is None:
            self.steps[id(obj)].append(step)
        else:
            _obj, steps, fields = self.changed.setdefault(id(obj), (obj, [], set()))
            steps.append(step)
            fields.update(data)
        return obj

    def event(self, *, kind: str, actor, target: models.Model, summary: str, site_code: str) -> None:
        """An AuditEvent as ``audit_event_record`` writes it, built when ``target`` has its id."""

        def build():
            return AuditEvent(
                kind=kind,
                actor=actor,
                actor_label=actor.username if actor else "",
                site_code=site_code,
                target_type=target._meta.label_lower,
                target_id=str(target.pk),
                target_label=str(target)[:200],
                summary=summary[:300],
                at=timezone.now(),
            )

        self.events.append(build)

    # The services' steps (crf.services), in bulk ---------------------------------------------

    @staticmethod
    def checked_form(model, *, patient, visit, data: dict):
        """A CRF instance holding ``data`` that passed the nurse's checks, and its soft findings."""
        form = model(patient=patient, visit=visit, status=FormStatus.IN_PROGRESS, **data)
        names = model.data_field_names()
        form.clean_fields(exclude=[f.name for f in model._meta.fields if f.name not in names])
        result = crf_check(model, {n: getattr(form, n) for n in data}, patient=patient, visit=visit)
        if result.hard:
            raise CheckFailed(result.hard)
        return form, result.soft

    def crf_save_new(self, model, *, visit, data: dict, actor, visits: dict | None = None):
        """``crf_save`` of a form not yet entered at ``visit`` (or a new log entry). ``visits``: the
        patient's visits by code, as held here (a Lutathera dose reschedules them)."""
        patient = visit.patient
        if model.NEEDS_SAMPLE_CONSENT and not patient.sample_consent_stands():
            raise DomainError(f"{patient.trial_number} has no standing consent to samples.", code="no_sample_consent")
        data = {n: v for n, v in data.items() if n not in model.DERIVED_FIELDS}
        data |= form_derived_fields(model, data, patient=patient, visit=visit)
        form, soft = self.checked_form(model, patient=patient, visit=visit, data=data)
        self.create(form, user=actor, reason="First entry")
        seen = set()
        for field, message in soft:  # one query per distinct finding, as the service dedupes them
            if (field, message) not in seen:
                seen.add((field, message))
                query = self.create(automatic_query(form, field, message), user=None, reason=EDIT_CHECK_REASON)
                self.query_forms.append((query, form))
                self.event(
                    kind=AuditEvent.Kind.QUERY_RAISED, actor=None, target=query, summary=message, site_code=_site(form)
                )
        if not (visit.done_on or visit.is_log or visit.missed_reason):
            day = next((getattr(form, n) for n in VISIT_DATE_FIELDS if getattr(form, n, None)), None)
            if day:
                self.update(visit, {"done_on": day}, user=actor, reason=f"Visit date from {form.FORM_TITLE}")
        if model is EndOfStudy or visit.code.startswith(FOLLOW_UP_VISIT_PREFIX):
            self._status_from(patient, actor, f"{model.FORM_TITLE} ({visit.code})")
        if model is LutatheraDosing and "dose_date" in data:
            doses = self.doses.setdefault(patient.pk, {})
            if form.dose_date:
                doses[visit.code] = form.dose_date
            self.visits_reschedule_after_dose(patient=patient, visits=visits, doses=doses, actor=actor)
        return form

    def crf_mark_complete(self, form, *, actor):
        if form.status != FormStatus.IN_PROGRESS:
            raise DomainError(f"The form is {form.get_status_display().lower()}.")
        if form.missing_fields():
            raise DomainError("Still missing: " + ", ".join(form.missing_fields()) + ".", code="incomplete")
        return self.update(
            form,
            {"status": FormStatus.COMPLETE, "completed_at": timezone.now(), "completed_by": actor},
            user=actor,
            reason="Marked complete",
        )

    def crf_verify(self, form, *, actor):
        if not form.can_verify():
            raise DomainError("Only a complete form can be verified.")
        return self.update(
            form,
            {"status": FormStatus.VERIFIED, "verified_at": timezone.now(), "verified_by": actor},
            user=actor,
            reason="Source data verified",
        )

    def crf_mark_not_done(self, *, visit, form_code: str, reason: str, actor):
        return self.create(
            FormNotDone(visit=visit, form_code=form_code, reason=reason), user=actor, reason=f"Not done: {reason}"
        )

    def visit_mark_done(self, visit, *, day, actor):
        if visit.is_log:
            raise DomainError("The logs are not a visit.")
        reason = "Visit done" if not visit.done_on else f"Visit date corrected from {visit.done_on:%d %b %Y}"
        self.update(visit, {"done_on": day, "missed_reason": ""}, user=actor, reason=reason)
        if visit.code.startswith(FOLLOW_UP_VISIT_PREFIX):
            self._status_from(visit.patient, actor, f"{visit.code} done")
        return visit

    def visit_mark_missed(self, visit, *, reason: str, actor):
        if visit.is_log or visit.done_on:
            raise DomainError("Only a visit not done can be recorded as missed.")
        return self.update(visit, {"missed_reason": reason}, user=actor, reason=f"Missed: {reason}")

    def visits_reschedule_after_dose(self, *, patient, visits: dict, doses: dict, actor) -> None:
        """``visits_reschedule_after_dose`` over the patient's visits held here (``visits`` by code)."""
        planned = schedule.planned_visits(
            arm=getattr(getattr(patient, "allocation", None), "arm", "B"),
            liver_resection=patient.liver_resection_date,
            randomised_on=visits["RAND"].target_date,
            cycle_1_dose=doses.get("C1"),
            cycle_2_dose=doses.get("C2"),
        )
        for definition, target, start, end in planned:
            visit = visits.get(definition.code)
            if visit is None or visit.done_on or definition.anchor not in (schedule.CYCLE_1, schedule.CYCLE_2):
                continue
            if visit.target_date != target:
                self.update(
                    visit,
                    {"target_date": target, "window_start": start, "window_end": end},
                    user=actor,
                    reason=f"Rescheduled after the actual {schedule.ANCHOR_LABELS[definition.anchor]}",
                )

    def query_raise(self, form, *, field: str, text: str, actor) -> Query:
        if field not in form.data_field_names():
            raise DomainError("Choose a field of this form.", field="field")
        query = Query(
            patient=form.patient,
            form_code=form.FORM_CODE,
            form_id=form.pk,
            visit_code=form.visit.code,
            field=field,
            text=text,
            raised_by=actor,
        )
        self.create(query, user=actor, reason="Query raised")
        if form.pk is None:
            self.query_forms.append((query, form))
        self.event(
            kind=AuditEvent.Kind.QUERY_RAISED, actor=actor, target=query, summary=text[:200], site_code=_site(form)
        )
        return query

    def query_answer(self, query, *, text: str, actor) -> Query:
        if query.status == Query.Status.CLOSED:
            raise DomainError("This query is closed.")
        self.messages.append(QueryMessage(query=query, author=actor, text=text))
        return self.update(query, {"status": Query.Status.ANSWERED}, user=actor, reason=f"Answered: {text}")

    def query_close(self, query, *, actor, text: str = "", site_code: str) -> Query:
        if text:
            self.messages.append(QueryMessage(query=query, author=actor, text=text))
        self.update(
            query, {"status": Query.Status.CLOSED, "closed_at": timezone.now()}, user=actor, reason=text or "Closed"
        )
        self.event(
            kind=AuditEvent.Kind.QUERY_CLOSED, actor=actor, target=query, summary=text[:200], site_code=site_code
        )
        return query

    def _status_from(self, patient, actor, reason: str) -> None:
        """The patient's status is refreshed after the flush with the reason of the first write in
        the batch that could change it (what ``patient_status_refresh`` is called with in crf_save)."""
        self.status_reasons.setdefault(patient.pk, (patient, actor, reason))

    # Writing ---------------------------------------------------------------------------------

    def flush(self) -> None:
        """Insert the new rows with their history (queries after the forms they are on), the
        changes to saved rows, the query messages and the audit events; then the patients' status."""
        queries = self.new.pop(Query, [])
        for model in list(self.new):
            self._insert(model, self.new.pop(model))
        for query, form in self.query_forms:
            query.form_id = form.pk
            for _kind, _user, _reason, _when, snap in self.steps.get(id(query), []):
                snap["form_id"] = form.pk
        self.query_forms = []
        self._insert(Query, queries)
        by_model: dict[type, list] = defaultdict(list)
        fields: dict[type, set] = defaultdict(set)
        for obj, steps, names in self.changed.values():
            by_model[type(obj)].append((obj, steps))
            fields[type(obj)] |= names
        self.changed.clear()
        for model, rows in by_model.items():
            names = sorted(fields[model] | {"version", "updated_at"})
            _update_rows(model, [obj for obj, _ in rows], names)
            self._history(model, rows)
        if self.messages:
            QueryMessage.objects.bulk_create(self.messages, batch_size=BATCH)
            self.messages = []
        if self.events:
            AuditEvent.objects.bulk_create([build() for build in self.events], batch_size=BATCH)
            self.events = []
        reasons, self.status_reasons = self.status_reasons, {}
        for patient, actor, reason in reasons.values():
            patient_status_refresh(patient=patient, actor=actor, reason=reason)

    def _insert(self, model, rows) -> None:
        if not rows:
            return
        model.objects.bulk_create([obj for obj, _ in rows], batch_size=BATCH)
        self._history(model, rows)
        for obj, _ in rows:
            self.steps.pop(id(obj), None)

    @staticmethod
    def _history(model, rows) -> None:
        history_model = _tracked(model)[0]
        history = [
            history_model(
                id=obj.pk,
                history_type=kind,
                history_user=user,
                history_change_reason=reason,
                history_date=when,
                **snap,
            )
            for obj, steps in rows
            for kind, user, reason, when, snap in steps
        ]
        history_model.objects.bulk_create(history, batch_size=BATCH)


def _site(form) -> str:
    return form.patient.site.code


def _update_rows(model, objs: list, names: list[str]) -> None:
    """``bulk_update`` as one ``UPDATE … FROM (VALUES …)`` a batch: its CASE per field is quadratic.

    PostgreSQL syntax; on SQLite (``make demo``, a few hundred rows) Django's ``bulk_update`` does
    the same. Either way the caller writes each row's history step (``BulkEntry.flush``)."""
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, names, batch_size=200)
        return
    fields = [model._meta.get_field(n) for n in names]
    pk = model._meta.pk
    columns = ", ".join(f"{connection.ops.quote_name(f.column)} = v.c{i}" for i, f in enumerate(fields))
    casts = [f"%s::{f.db_type(connection)}" for f in fields]
    row = "(%s, " + ", ".join(casts) + ")"
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(objs), BATCH):
            batch = objs[start : start + BATCH]
            params = []
            for obj in batch:
                params.append(obj.pk)
                params.extend(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields)
            names_sql = ", ".join(f"c{i}" for i in range(len(fields)))
            cursor.execute(
                f"UPDATE {table} SET {columns} FROM (VALUES {', '.join([row] * len(batch))}) "  # noqa: S608 - names from the model
                f"AS v(id, {names_sql}) WHERE {table}.{connection.ops.quote_name(pk.column)} = v.id",
                params,
            )
