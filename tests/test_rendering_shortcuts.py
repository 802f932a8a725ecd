"""Two shortcuts that make pages cheaper to render must give exactly what Django gives."""

import gettext

import pytest
from django.apps import apps
from django.db import models
from django.utils.translation import trans_real

from accounts.models import TrialRecord
from core.i18n import drop_empty_fallbacks

CHOICE_FIELDS = [
    (model, field)
    for model in apps.get_models()
    if issubclass(model, TrialRecord)
    for field in model._meta.concrete_fields
    if field.choices
]


def test_there_are_choice_fields_to_check():
    assert len(CHOICE_FIELDS) > 20


@pytest.mark.parametrize(("model", "field"), CHOICE_FIELDS, ids=str)
def test_get_display_gives_what_django_gives_for_every_choice_and_for_unknown_values(model, field):
    record = model()
    for value in [choice for choice, _label in field.flatchoices] + ["no-such-value", None, 999]:
        setattr(record, field.attname, value)
        ours = getattr(record, f"get_{field.name}_display")()
        assert ours == models.Model._get_FIELD_display(record, field)
        assert isinstance(ours, str) or ours is None or isinstance(ours, int)


def test_the_site_language_looks_up_messages_without_empty_fallbacks():
    """The translation in use has no fallback chain, and translates every message as a fresh one
    with its six empty fallback catalogs does (and leaves unknown messages as they are)."""
    in_use = trans_real.translation("en-gb")
    assert in_use._fallback is None
    fresh = trans_real.DjangoTranslation("en-gb")
    assert fresh._fallback is not None  # what Django builds: the chain the shortcut removes
    catalog = fresh._catalog.keys()  # a TranslationCatalog, not a dict: it is not iterable itself
    messages = [key for key in catalog if isinstance(key, str) and key][:500]
    assert len(messages) > 100
    for message in [*messages, "Visits due this week", "No such message anywhere"]:
        assert in_use.gettext(message) == fresh.gettext(message)
    assert in_use.ngettext("%d query", "%d queries", 2) == fresh.ngettext("%d query", "%d queries", 2)


def test_a_fallback_catalog_with_messages_is_kept():
    translation = gettext.NullTranslations()
    empty, useful = gettext.NullTranslations(), gettext.NullTranslations()
    empty._catalog, useful._catalog = {"": "header"}, {"": "header", "colour": "color"}
    translation.add_fallback(empty)
    translation.add_fallback(useful)
    assert drop_empty_fallbacks(translation) == 0
    assert translation._fallback is empty
    only_empty, blank = gettext.NullTranslations(), gettext.NullTranslations()
    blank._catalog = {"": "header"}
    only_empty.add_fallback(blank)
    assert drop_empty_fallbacks(only_empty) == 1
    assert only_empty._fallback is None
