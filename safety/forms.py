import datetime as dt
from zoneinfo import ZoneInfo

from django import forms
from django.utils.translation import gettext_lazy as _

from core.validators import is_in_future
from sites.forms import DateInput

from .clocks import local_to_utc
from .models import AdverseEvent, Causality, Expectedness, ReferenceSafetyInformation, ReportingTimelines, SaeReport


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
        # What the site records is what the PI's SAE signature covers: one list, so neither can drift.
        fields = list(AdverseEvent.SIGNED_WITH_SAE)
        widgets = {
            "onset_date": DateInput(),
            "stop_date": DateInput(),
            # The browser's own suggestion list over the CTCAE v5 terms: no script needed.
            "term": forms.TextInput(attrs={"list": "ctcae-terms", "autocomplete": "off"}),
        }
        help_texts = {
            "term": _("Pick a CTCAE v5.0 term as you type; another term is allowed and is flagged for MedDRA coding.")
        }

    def __init__(self, *args, tz_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz_name = tz_name
        if self.instance.pk and self.instance.aware_at:
            self.initial["aware_at"] = self.instance.aware_at.astimezone(ZoneInfo(tz_name)).replace(tzinfo=None)

    def clean_aware_at(self):
        value = self.cleaned_data.get("aware_at")
        if value is None:
            return None
        value = local_to_utc(value.replace(tzinfo=None), self.tz_name)
        if is_in_future(value, timezone_name=self.tz_name):
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


# The PI's answers open blank: a pre-set "unrelated / expected" would let a hurried signature
# classify away a SUSAR (protocol "Safety reporting").
BLANK = [("", _("— choose —"))]


class AssessmentForm(forms.Form):
    pi_causality_lutathera = forms.ChoiceField(
        label=_("Causality: Lutathera"),
        choices=BLANK + Causality.choices,
        error_messages={"required": _("Choose the causality.")},
    )
    pi_causality_amino_acids = forms.ChoiceField(
        label=_("Causality: amino acids"),
        choices=BLANK + Causality.choices,
        error_messages={"required": _("Choose the causality.")},
    )
    pi_causality_procedures = forms.ChoiceField(
        label=_("Causality: trial procedures"),
        choices=BLANK + Causality.choices,
        error_messages={"required": _("Choose the causality.")},
    )
    pi_expectedness = forms.ChoiceField(
        label=_("Expectedness against the RSI at onset"),
        choices=BLANK + Expectedness.choices,
        error_messages={"required": _("Choose the expectedness.")},
    )
    pi_comment = forms.CharField(
        label=_("Your comment on the assessment"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    username = forms.CharField(
        label=_("Your user id"),
        help_text=_("Asked at the first signature of a session (21 CFR 11.200)."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
        error_messages={"required": _("Enter your user id to sign.")},
    )
    password = forms.CharField(
        label=_("Your password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": _("Enter your password to sign.")},
    )
    otp_token = forms.CharField(label=_("One-time code (if you use two-factor)"), required=False, max_length=12)

    def __init__(self, *args, identity_needed: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not identity_needed:
            del self.fields["username"]

    accept = forms.BooleanField(
        label=_("I sign with the meaning stated above"),
        error_messages={"required": _("Tick the statement to sign.")},
    )


class SponsorReviewForm(forms.Form):
    causality = forms.ChoiceField(label=_("Sponsor causality (Lutathera)"), choices=BLANK + Causality.choices)
    expectedness = forms.ChoiceField(label=_("Sponsor expectedness"), choices=BLANK + Expectedness.choices)
    sponsor_aware_at = forms.DateTimeField(
        label=_("Sponsor aware earlier than receipt (UTC)"),
        required=False,
        widget=LocalDateTimeInput(),
        help_text=_("Only if the sponsor learnt of it before the report arrived: day 0 is the earlier."),
    )
    comment = forms.CharField(label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_sponsor_aware_at(self):
        value = self.cleaned_data["sponsor_aware_at"]
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


class SubmissionForm(forms.Form):
    regulator_on = forms.DateField(label=_("Reported to the regulator"), required=False, widget=DateInput())
    ethics_on = forms.DateField(label=_("Reported to the ethics committee"), required=False, widget=DateInput())
    followup_on = forms.DateField(label=_("Follow-up report sent"), required=False, widget=DateInput())
    upgrade_on = forms.DateField(label=_("Upgraded SUSAR reported"), required=False, widget=DateInput())


class RsiForm(forms.ModelForm):
    class Meta:
        model = ReferenceSafetyInformation
        fields = ["version", "document", "effective_date", "expected_terms"]
        widgets = {"effective_date": DateInput(), "expected_terms": forms.Textarea(attrs={"rows": 6})}


class TimelinesForm(forms.ModelForm):
    reason = forms.CharField(
        label=_("Reason for change"),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("For example the protocol amendment or regulatory guidance that changes it."),
    )

    class Meta:
        model = ReportingTimelines
        fields = [
            "sae_initial_hours",
            "susar_fatal_days",
            "susar_fatal_followup_days",
            "susar_other_days",
            "sponsor_timezone",
        ]


class CodingForm(forms.Form):
    meddra_llt_code = forms.CharField(label=_("MedDRA LLT code"), max_length=8)
    meddra_pt_code = forms.CharField(label=_("MedDRA PT code"), max_length=8)
    meddra_version = forms.CharField(label=_("MedDRA version"), max_length=10)
    reason = forms.CharField(
        label=_("Reason for a re-code"),
        required=False,
        max_length=500,
        help_text=_("Needed when a code is replaced; a re-code voids the PI's SAE signature."),
    )
