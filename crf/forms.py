import datetime as dt

from django import forms
from django.db import models
from django.forms import modelform_factory
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from core.validators import not_in_future
from patients.forms import DateTimeInput, YesNoSelect
from sites.forms import DateInput

from .models import LabReferenceRange
from .qlq_paper import item_number, paper_sections
from .scoring import item_range


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", **kwargs)


def _widget(field):
    if isinstance(field, models.DateTimeField):
        return DateTimeInput()
    if isinstance(field, models.DateField):
        return DateInput()
    if isinstance(field, models.TimeField):
        return TimeInput()
    if isinstance(field, models.BooleanField):
        return YesNoSelect()
    if isinstance(field, models.TextField):
        return forms.Textarea(attrs={"rows": 2})
    return None


def _paper_item_field(model_field, **kwargs):
    """A questionnaire item as on the printed form: one answer of 1–4 (1–7 for items 29–30) as radio
    buttons, none chosen until the nurse chooses; blank is a valid answer (an item left empty)."""
    item = item_number(model_field.name)
    if item is None:
        return model_field.formfield(**kwargs)
    low, high = item_range(item)
    return forms.TypedChoiceField(
        label=_("Item %(n)s") % {"n": item},
        choices=[(str(v), str(v)) for v in range(low, high + 1)],
        coerce=int,
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
        error_messages={
            "invalid_choice": _("Item %(n)s is answered %(low)s–%(high)s.") % {"n": item, "low": low, "high": high}
        },
    )


def crf_form_class(model):
    """A ModelForm for any CRF: every data field optional (partial saves), with suitable widgets."""
    widgets = {}
    for name in model.data_field_names():
        widget = _widget(model._meta.get_field(name))
        if widget is not None:
            widgets[name] = widget
    paper = getattr(model, "PAPER_LAYOUT", False)
    form_class = modelform_factory(
        model,
        fields=model.data_field_names(),
        widgets=widgets,
        formfield_callback=_paper_item_field if paper else None,
    )

    class CrfModelForm(form_class):
        reason = forms.CharField(
            label=_("Reason for change"),
            required=False,
            widget=forms.Textarea(attrs={"rows": 2}),
            help_text=_("Required when you change a form that was complete."),
        )

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            for name, field in self.fields.items():
                field.required = False
                unit = model._meta.get_field(name).help_text if name != "reason" else ""
                if unit:
                    field.widget.attrs.setdefault("aria-describedby", f"id_{name}_helptext")

        def sections(self, queries_by_field=None):
            queries_by_field = queries_by_field or {}
            return [
                (title, [(self[name], queries_by_field.get(name, []), self.display(name)) for name in names])
                for title, names in model.SECTIONS
            ]

        def paper_sections(self, queries_by_field=None):
            """The sections laid out as the printed questionnaire (crf.qlq_paper), or None."""
            return paper_sections(self, self.sections(queries_by_field)) if paper else None

        def display(self, name) -> str:
            """The saved value as a reader sees it (read-only view): labels, Yes/No, dates, units."""
            value = getattr(self.instance, name, None) if self.instance and self.instance.pk else None
            if value is None or value == "":
                return ""
            field = model._meta.get_field(name)
            if isinstance(value, bool):
                text = str(_("Yes") if value else _("No"))
            elif field.choices:
                text = str(dict(field.flatchoices).get(value, value))
            elif isinstance(value, dt.datetime):
                text = f"{value:%d %b %Y %H:%M} UTC"
            elif isinstance(value, dt.date):
                text = f"{value:%d %b %Y}"
            elif isinstance(value, dt.time):
                text = f"{value:%H:%M}"
            else:
                text = str(value)
            numeric = isinstance(field, models.DecimalField | models.IntegerField)
            return f"{text} {field.help_text}".strip() if numeric else text

    return CrfModelForm


class QueryForm(forms.Form):
    field = forms.ChoiceField(label=_("Field"))
    text = forms.CharField(label=_("Query"), widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, model, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [
            (n, capfirst(model._meta.get_field(n).verbose_name)) for n in model.data_field_names()
        ]


class MessageForm(forms.Form):
    text = forms.CharField(label=_("Reply"), widget=forms.Textarea(attrs={"rows": 2}), required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class VisitDateForm(forms.Form):
    # Without the visit the form can only refuse a date in the future everywhere; the service
    # (visit_mark_done) judges it on the site's calendar (core.validators).
    day = forms.DateField(label=_("Date of the visit"), widget=DateInput(), validators=[not_in_future])


class LabReferenceRangeForm(forms.ModelForm):
    class Meta:
        model = LabReferenceRange
        fields = ["site", "limit", "value", "sex", "effective_from", "effective_to"]
        widgets = {"effective_from": DateInput(), "effective_to": DateInput()}
