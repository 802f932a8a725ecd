"""Bulk data entry for the simulated trial: the rows a nurse's clicks would leave, written in batches.

Why it exists: benchmarks need a trial of 10,000 patients with three years of follow-up (about half
a million forms). Entering that through ``crf.services`` costs ~50 ms a form, days of build time;
this path inserts the same rows with ``bulk_create`` in one transaction per batch of patients.

What it guarantees, for every row it writes:
- the form passes the checks a nurse's entry passes, in Python, before anything is inserted: the
  model field validation of the CRF's ModelForm (types, ranges, choices, lengths) and the CRF's edit
  checks (``crf.services.crf_check``); a hard finding raises ``CheckFailed`` as ``crf_save`` would,
  and each soft finding raises its automatic query as ``crf_save`` does;
- a status is reached only as the services allow it: ``complete`` only with no required field
  missing, ``verified`` only after ``complete`` and by a monitor;
- the audit trail holds one django-simple-history row per step the services would have recorded
  (first entry, marked complete, source data verified; visit done, missed, rescheduled; query
  raised, answered, closed), each with its user, reason and the incrementing ``version``, written at
  the time of insertion; the AuditEvent rows the query services write are written too;
- visit dates, reschedules after the actual Lutathera doses and missed reasons are what
  ``crf.services`` would store for the same entries.

What it skips: row locks and the optimistic version check (nothing else writes during a build),
signature invalidation (nothing bulk-written is signed) and the casebook digest refresh (the
simulation signs no casebook). Records that carry a signature, a randomisation, a notification or a
status change of the patient (registration, eligibility, randomisation, SAEs, withdrawals) are not
written here: the simulation makes them through the services.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import connection, models
from django.utils import timezone

from accounts.models import AuditEvent
from crf.services import CheckFailed, crf_check

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
        self.events: list[AuditEvent] = []

    # Recording -------------------------------------------------------------------------------

    def create(self, obj: models.Model, *, user, reason: str) -> models.Model:
        now = timezone.now()
        obj.created_at = obj.updated_at = now
        obj.version = 1
        steps = [("+", user, reason, now, snapshot(obj))]
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
        step = ("~", user, reason, now, snapshot(obj))
        if obj.pk is None:
            self.steps[id(obj)].append(step)
        else:
            _obj, steps, fields = self.changed.setdefault(id(obj), (obj, [], set()))
            steps.append(step)
            fields.update(data)
        return obj

    def event(self, *, kind: str, actor, target: models.Model, summary: str, site_code: str) -> None:
        self.events.append(
            AuditEvent(
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
        )

    # Checks ----------------------------------------------------------------------------------

    @staticmethod
    def checked_form(model, *, patient, visit, data: dict):
        """A CRF instance holding ``data`` that passed the nurse's checks, and its soft findings."""
        form = model(patient=patient, visit=visit, **data)
        names = model.data_field_names()
        form.clean_fields(exclude=[f.name for f in model._meta.fields if f.name not in names])
        result = crf_check(model, {n: getattr(form, n) for n in data}, patient=patient, visit=visit)
        if result.hard:
            raise CheckFailed(result.hard)
        return form, result.soft

    # Writing ---------------------------------------------------------------------------------

    def flush(self, *models_in_order) -> None:
        """Insert the new rows (of ``models_in_order`` if given, else all), their history, the
        changes to saved rows and the audit events."""
        for model in models_in_order or list(self.new):
            rows = self.new.pop(model, [])
            if not rows:
                continue
            model.objects.bulk_create([obj for obj, _ in rows], batch_size=BATCH)
            self._history(model, rows)
            for obj, _ in rows:
                self.steps.pop(id(obj), None)
        if not models_in_order:
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
        if self.events:
            AuditEvent.objects.bulk_create(self.events, batch_size=BATCH)
            self.events = []

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
