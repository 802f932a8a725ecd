"""The data dictionary of the CRFs: each form's columns (name, label, kind, unit, codes) derived from
its model fields, and the plain-text form of a value. The export, the ODM metadata (reports) and the
API (crf.api) read the same columns; they live here, with the forms they describe, so that crf
needs nothing from reports (issue 21)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import models


@dataclass
class Column:
    name: str
    label: str
    kind: str  # text, integer, float, date, datetime, time, boolean
    unit: str = ""
    codes: tuple[tuple[str, str], ...] = ()
    derived_from: str = ""
    # A column that is not a model field of its own (a key of a derived JSON field): the database
    # expression the exports annotate under ``name``, and how to read it from a saved form.
    expression: Any = None
    read: Callable[[Any], Any] | None = None

    def value_of(self, obj):
        return self.read(obj) if self.read is not None else getattr(obj, self.name)


def codes_of(choices) -> tuple[tuple[str, str], ...]:
    """A column's codes from a code list (``TextChoices`` or its declared subset), labels as text."""
    pairs = choices.choices if hasattr(choices, "choices") else choices
    return tuple((str(value), str(label)) for value, label in pairs if value not in ("", None))


def field_kind(field: models.Field) -> str:
    if isinstance(field, models.BooleanField):
        return "boolean"
    if isinstance(field, models.DateTimeField):
        return "datetime"
    if isinstance(field, models.DateField):
        return "date"
    if isinstance(field, models.TimeField):
        return "time"
    if isinstance(field, models.DecimalField):
        return "float"
    if isinstance(field, models.IntegerField):
        return "integer"
    return "text"


def form_columns(model) -> list[Column]:
    """The form's entered fields, then the fields the system derives from them (crf.derivations)."""
    columns = []
    derived = list(getattr(model, "DERIVED_FIELDS", []))
    for name in model.data_field_names() + derived:
        field = model._meta.get_field(name)
        if isinstance(field, models.JSONField):
            # A derived JSON field is exported as one column per key (QualityOfLife: one per
            # configured GI.NET21 scale), beside the items, not as a JSON text.
            columns += model.expanded_columns(name)
            continue
        kind = field_kind(field)
        unit = str(field.help_text) if kind in ("float", "integer") and field.help_text else ""
        codes = tuple((str(v), str(label)) for v, label in field.flatchoices if v not in ("", None))
        rule = "derived by the system (crf.derivations, crf.ctcae)" if name in derived else ""
        columns.append(Column(name, str(field.verbose_name), kind, unit, codes, rule))
    return columns


def plain(value, kind: str) -> str:
    """The value as text in the export (ISO dates, UTC times, 1/0 booleans, '' for missing)."""
    if value is None or value == "":
        return ""
    if kind == "boolean":
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    return str(value)
