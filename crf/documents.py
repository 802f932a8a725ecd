"""The blank CRF book: every form with its fields, units, ranges, choices and edit checks,
derived from the CRF models and validators (so the paper book always matches the system)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.module_loading import import_string

from core.documents import BuiltDocument, render_pdf

from . import schedule
from .registry import FORMS
from .validators import CrfValidator


def _kind(field: models.Field) -> str:
    if field.choices:
        return "choice"
    if isinstance(field, models.BooleanField):
        return "yes/no"
    if isinstance(field, models.DateTimeField):
        return "date and time"
    if isinstance(field, models.DateField):
        return "date (DD/MM/YYYY)"
    if isinstance(field, models.TimeField):
        return "time (HH:MM)"
    if isinstance(field, models.DecimalField):
        return f"number ({field.decimal_places} decimals)"
    if isinstance(field, models.IntegerField):
        return "whole number"
    return "text"


def _range(field: models.Field) -> str:
    low = next((v.limit_value for v in field.validators if isinstance(v, MinValueValidator)), None)
    high = next((v.limit_value for v in field.validators if isinstance(v, MaxValueValidator)), None)
    return f"{low}–{high}" if low is not None and high is not None else ""


def form_spec(model) -> dict:
    sections = []
    for title, names in model.SECTIONS:
        rows = []
        for name in names:
            field = model._meta.get_field(name)
            rows.append(
                {
                    "label": str(field.verbose_name),
                    "name": name,
                    "kind": _kind(field),
                    "unit": str(field.help_text) if field.help_text else "",
                    "range": _range(field),
                    "choices": [str(label) for value, label in field.flatchoices if value not in ("", None)],
                    "required": name in model.REQUIRED_FOR_COMPLETE,
                }
            )
        sections.append({"title": str(title), "fields": rows})
    validator = import_string(model.VALIDATOR) if model.VALIDATOR else None
    checks = list(CrfValidator.CHECKS) + (list(validator.CHECKS) if validator and validator is not CrfValidator else [])
    visits = [v.code for v in schedule.schedule() if model.FORM_CODE in v.forms]
    if model.FORM_CODE in schedule.LOG.forms:
        visits.append("any time (log)")
    return {
        "code": model.FORM_CODE,
        "title": str(model.FORM_TITLE),
        "sections": sections,
        "checks": checks,
        "visits": visits,
        "repeating": model.REPEATING,
    }


def build_blank_crf_book(subject: str, progress) -> BuiltDocument:
    forms = []
    for index, model in enumerate(FORMS.values()):
        forms.append(form_spec(model))
        progress(int(80 * (index + 1) / len(FORMS)))
    pdf = render_pdf("pdf/blank_crf_book.html", {"forms": forms, "schedule": schedule.schedule()})
    return BuiltDocument(filename="nelmas-blank-crf-book.pdf", pdf=pdf)
