"""Reading a record's history for the history page: who, when (UTC and site time), old → new, why."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime

from django.db import models
from django.utils.text import capfirst

from accounts.models import AuditEvent


@dataclass
class Change:
    field: str
    old: str
    new: str


@dataclass
class HistoryEntry:
    at_utc: datetime
    at_local: datetime | None
    who: str
    action: str
    reason: str
    changes: list[Change] = field(default_factory=list)


def _display(model_field: models.Field, value, labels: dict | None = None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(model_field, models.ForeignKey) and labels is not None:
        return labels.get((model_field.name, value), str(value))
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


_ACTIONS = {"+": "Created", "~": "Changed", "-": "Retired"}


def _foreign_key_labels(obj: models.Model, rows) -> dict[tuple[str, object], str]:
    """(field name, pk) → str(related object), one query per foreign key field of the record."""
    labels: dict[tuple[str, object], str] = {}
    for f in obj._meta.concrete_fields:
        if not isinstance(f, models.ForeignKey):
            continue
        ids = {getattr(r, f.attname, None) for r in rows} - {None}
        if ids:
            for related in f.related_model._default_manager.filter(pk__in=ids):
                labels[(f.name, related.pk)] = str(related)
    return labels


def record_history(obj: models.Model, *, timezone_name: str | None = None) -> list[HistoryEntry]:
    """Newest first. Two queries whatever the length of the history (rows, then users)."""
    tz = zoneinfo.ZoneInfo(timezone_name) if timezone_name else None
    rows = list(obj.history.all().select_related("history_user").order_by("history_date", "history_id"))
    skip = getattr(obj, "BOOKKEEPING_FIELDS", frozenset({"id"}))
    labels = _foreign_key_labels(obj, rows)
    entries: list[HistoryEntry] = []
    previous = None
    for row in rows:
        changes: list[Change] = []
        if previous is not None:
            delta = row.diff_against(previous)
            for ch in delta.changes:
                if ch.field in skip:
                    continue
                f = obj._meta.get_field(ch.field)
                changes.append(
                    Change(
                        str(capfirst(f.verbose_name)),
                        _display(f, ch.old, labels),
                        _display(f, ch.new, labels),
                    )
                )
        else:
            for f in obj._meta.concrete_fields:
                if f.name in skip:
                    continue
                value = getattr(row, f.attname, None)
                if value not in (None, "", [], False):
                    changes.append(Change(str(capfirst(f.verbose_name)), "—", _display(f, value, labels)))
        who = row.history_user.get_full_name() if row.history_user else "system"
        entries.append(
            HistoryEntry(
                at_utc=row.history_date,
                at_local=row.history_date.astimezone(tz) if tz else None,
                who=who,
                action=_ACTIONS.get(row.history_type, row.history_type),
                reason=row.history_change_reason or "",
                changes=changes,
            )
        )
        previous = row
    entries.reverse()
    return entries


def record_events(obj: models.Model):
    """Workflow events written about this record (signed, activated, ...)."""
    return AuditEvent.objects.filter(target_type=obj._meta.label_lower, target_id=str(obj.pk)).select_related("actor")
