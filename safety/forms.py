import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from sites.forms import DateInput

from .models import AdverseEvent, Causality, Expectedness, ReferenceSafetyInformation, SaeReport


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class AdverseEventForm(forms.ModelForm):
    """Times are typed in the site's local time; the view converts them to UTC."""

    aware_at = forms.DateTimeField(
        label=_("Site became aware (site local time)"),
        required=False,
        widget=LocalDateTimeInput(),
        help_text=_("Starts the 24-hour clock to report an SAE to the sponsor."),
    )
    reason = forms.CharField(label=_("Reason for change"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    class Meta:
        model = AdverseEvent
        fields = [
            "term",
            "grade",
            "onset_date",
            "stop_date",
            "ongoing",
            "serious",
            "criterion_death",
            "criterion_life_threatening",
            "criterion_hospitalisation",
            "criterion_disability",
            "criterion_congenital_anomaly",
            "criterion_important_medical_event",
            "planned_radiation_admission",
            "aware_at",
            "causality_lutathera",
            "causality_amino_acids",
            "causality_procedures",
            "action_taken",
            "outcome",
            "dosing_cycle",
        ]
        widgets = {"onset_date": DateInput(), "stop_date": DateInput()}

    def __init__(self, *args, tz_name: str, **kwargs):
        from zoneinfo import ZoneInfo

        super().__init__(*args, **kwargs)
        self.tz_name = tz_name
        if self.instance.pk and self.instance.aware_at:
            self.initial["aware_at"] = self.instance.aware_at.astimezone(ZoneInfo(tz_name)).replace(tzinfo=None)

    def clean_aware_at(self):
        from .clocks import local_to_utc

        value = self.cleaned_data.get("aware_at")
        if value is None:
            return None
        value = local_to_utc(value.replace(tzinfo=None), self.tz_name)
        if value > dt.datetime.now(dt.UTC):
            raise forms.ValidationError(_("This time is in the future."))
        return value


class SaeReportForm(forms.ModelForm):
    reason = forms.CharField(label=_("Reason for change"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    class Meta:
        model = SaeReport
        fields = [
            "admission_date",
            "discharge_date",
            "last_dose_cycle",
            "last_dose_date",
            "last_dose_activity_mbq",
            "narrative",
            "treatment",
            "outcome",
        ]
        widgets = {
            "admission_date": DateInput(),
            "discharge_date": DateInput(),
            "last_dose_date": DateInput(),
            "narrative": forms.Textarea(attrs={"rows": 5}),
            "treatment": forms.Textarea(attrs={"rows": 2}),
        }


class AssessmentForm(forms.Form):
    pi_causality_lutathera = forms.ChoiceField(label=_("Causality: Lutathera"), choices=Causality.choices)
    pi_causality_amino_acids = forms.ChoiceField(label=_("Causality: amino acids"), choices=Causality.choices)
    pi_causality_procedures = forms.ChoiceField(label=_("Causality: trial procedures"), choices=Causality.choices)
    pi_expectedness = forms.ChoiceField(label=_("Expectedness against the RSI in force"), choices=Expectedness.choices)
    password = forms.CharField(
        label=_("Your password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    otp_token = forms.CharField(label=_("One-time code (if you use two-factor)"), required=False, max_length=12)
    accept = forms.BooleanField(label=_("I sign with the meaning stated above"))


class SponsorReviewForm(forms.Form):
    causality = forms.ChoiceField(label=_("Sponsor causality (Lutathera)"), choices=Causality.choices)
    expectedness = forms.ChoiceField(label=_("Sponsor expectedness"), choices=Expectedness.choices)
    sponsor_aware_at = forms.DateTimeField(label=_("Sponsor became aware (UTC)"), widget=LocalDateTimeInput())
    comment = forms.CharField(label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_sponsor_aware_at(self):
        value = self.cleaned_data["sponsor_aware_at"]
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


class SubmissionForm(forms.Form):
    regulator_on = forms.DateField(label=_("Reported to the regulator"), required=False, widget=DateInput())
    ethics_on = forms.DateField(label=_("Reported to the ethics committee"), required=False, widget=DateInput())


class RsiForm(forms.ModelForm):
    class Meta:
        model = ReferenceSafetyInformation
        fields = ["version", "document", "effective_date", "expected_terms"]
        widgets = {"effective_date": DateInput(), "expected_terms": forms.Textarea(attrs={"rows": 6})}
