from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.forms import ReasonFormMixin
from core.validators import not_in_future
from sites.forms import DateInput

from .eligibility import ANSWER_SECTIONS, not_asked
from .models import ConsentDocument, EligibilityAssessment, Patient, ScreeningEntry, Withdrawal
from .services import registration_problems  # the service owns the rules; the form shows them


class YesNoSelect(forms.NullBooleanSelect):
    """Yes / No / not answered yet, mapping True, False and None both ways."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("unknown", _("— not answered —")), ("true", _("Yes")), ("false", _("No"))]


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class ScreeningForm(forms.ModelForm):
    class Meta:
        model = ScreeningEntry
        fields = ["screened_on", "age", "sex", "eligible", "not_randomised_reason", "reason_detail"]
        widgets = {"screened_on": DateInput()}
        help_texts = {"not_randomised_reason": _("Required when the patient will not take part.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["screened_on"].validators.append(not_in_future)
        self.fields["screened_on"].initial = timezone.localdate()


class RegistrationForm(forms.Form):
    """Registration and the initial consent, in one step (a patient is registered after consenting)."""

    screening = forms.ModelChoiceField(
        queryset=ScreeningEntry.objects.none(),
        required=False,
        label=_("Screening log entry"),
        help_text=_("The entry for this patient."),
    )
    initials = forms.CharField(label=_("Initials"), max_length=3, help_text=_("Two or three letters. No names."))
    year_of_birth = forms.IntegerField(label=_("Year of birth"), min_value=1900, max_value=2100)
    # No default: a pre-selected sex would be saved unnoticed and decides the pregnancy questions.
    sex = forms.ChoiceField(label=_("Sex"), choices=[("", "—"), *Patient._meta.get_field("sex").choices])
    liver_resection_date = forms.DateField(
        label=_("Date of liver resection"), widget=DateInput(), validators=[not_in_future]
    )
    primary_resection_date = forms.DateField(
        label=_("Date of primary tumour resection"),
        widget=DateInput(),
        validators=[not_in_future],
        help_text=_("The same date if the primary was resected with the liver metastases."),
    )
    document = forms.ModelChoiceField(
        queryset=ConsentDocument.objects.all(), label=_("Information sheet / consent form version")
    )
    consented_at = forms.DateTimeField(label=_("Date and time of consent"), widget=DateTimeInput())
    samples_biobank = forms.BooleanField(label=_("NETest and biobank samples"), required=False)
    tissue = forms.BooleanField(label=_("Use of stored tumour tissue"), required=False)
    future_research = forms.BooleanField(label=_("Future research"), required=False)
    gp_letter = forms.BooleanField(label=_("Letter to the GP"), required=False)
    not_a_duplicate = forms.BooleanField(
        label=_("Not a duplicate: I have checked this is a different person"),
        required=False,
    )

    def __init__(self, *args, site=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.site = site
        if site is not None:
            self.fields["screening"].queryset = ScreeningEntry.objects.filter(site=site).registrable()

    def clean(self):
        """The service's cross-field rules over the fields that parsed, so every error shows at once."""
        cleaned = super().clean()
        if self.site is not None:
            patient, consent = self.split(partial=True)
            for problem in registration_problems(
                site=self.site, data=patient, consent=consent, screening=cleaned.get("screening")
            ):
                field = problem.field if problem.field in self.fields and problem.field not in self.errors else None
                self.add_error(field, problem.message)
        return cleaned

    def clean_initials(self):
        initials = self.cleaned_data["initials"].strip().upper()
        if not initials.isalpha() or not 2 <= len(initials) <= 3:
            raise forms.ValidationError(_("Two or three letters, e.g. JS or JAS."))
        return initials

    def split(self, *, partial: bool = False) -> tuple[dict, dict]:
        c = self.cleaned_data
        patient_fields = ("initials", "year_of_birth", "sex", "liver_resection_date", "primary_resection_date")
        consent_fields = ("document", "consented_at", "samples_biobank", "tissue", "future_research", "gp_letter")
        if partial:
            return {k: c[k] for k in patient_fields if k in c}, {k: c[k] for k in consent_fields if k in c}
        return {k: c[k] for k in patient_fields}, {k: c[k] for k in consent_fields}


class ConsentForm(forms.Form):
    document = forms.ModelChoiceField(
        queryset=ConsentDocument.objects.all(), label=_("Information sheet / consent form version")
    )
    consented_at = forms.DateTimeField(label=_("Date and time of consent"), widget=DateTimeInput())
    samples_biobank = forms.BooleanField(label=_("NETest and biobank samples"), required=False)
    tissue = forms.BooleanField(label=_("Use of stored tumour tissue"), required=False)
    future_research = forms.BooleanField(label=_("Future research"), required=False)
    gp_letter = forms.BooleanField(label=_("Letter to the GP"), required=False)


class ConsentDocumentForm(forms.ModelForm):
    class Meta:
        model = ConsentDocument
        fields = ["document_version", "document_date", "valid_from", "valid_to", "ethics_approval_date"]
        widgets = {f: DateInput() for f in ("document_date", "valid_from", "valid_to", "ethics_approval_date")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ethics_approval_date"].validators.append(not_in_future)


class WithdrawalForm(forms.ModelForm):
    class Meta:
        model = Withdrawal
        fields = ["withdrawn_on", "initiated_by", "level", "reason"]
        widgets = {"withdrawn_on": DateInput(), "level": forms.RadioSelect, "reason": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["withdrawn_on"].validators.append(not_in_future)


class EligibilityForm(ReasonFormMixin, forms.ModelForm):
    SECTIONS = ANSWER_SECTIONS

    class Meta:
        model = EligibilityAssessment
        fields = [
            "assessed_on",
            "consent_before_procedures",
            "eighteenth_birthday_confirmed",
            "ecog",
            "histology_confirmed",
            "primary_site",
            "ki67_percent",
            "mitoses_per_2mm2",
            "who_grade",
            "nec",
            "resection_margin",
            "liver_mets_histology_confirmed",
            "primary_resected",
            "mri_date",
            "mri_no_extrahepatic",
            "pet_date",
            "pet_no_extrahepatic",
            "other_treatment_date",
            "unresectable_disease",
            "pregnant_or_breastfeeding",
            "unwilling_contraception",
            "prior_prrt",
            "liver_directed_therapy_date",
        ]
        widgets = {
            f: DateInput()
            for f in ("assessed_on", "mri_date", "pet_date", "other_treatment_date", "liver_directed_therapy_date")
        }

    def __init__(self, *args, patient: Patient | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # Not asked of this patient (a male patient is not asked the pregnancy question).
        self.not_asked = not_asked(patient) if patient is not None else ()
        for name in self.not_asked:
            del self.fields[name]
        for field in self.fields.values():
            if isinstance(field, forms.NullBooleanField):
                field.widget = YesNoSelect()
            if isinstance(field.widget, DateInput):
                field.validators.append(not_in_future)
        self.fields["ki67_percent"].help_text = _("%; must be below 20")
        self.fields["mitoses_per_2mm2"].help_text = _("per 2 mm²; with Ki-67 it gives the WHO grade")
        self.fields["who_grade"].help_text = _("As written on the pathology report")
        self.fields["eighteenth_birthday_confirmed"].help_text = _(
            "Needed only when the year of birth leaves the age at consent at 17 or 18"
        )
        self.fields["ecog"].help_text = _("0–4; must be 0 or 1")
        if not self.instance.pk:
            del self.fields["reason"]

    def sections(self):
        return [(title, [self[name] for name in names if name in self.fields]) for title, names in self.SECTIONS]

    def not_asked_labels(self) -> list[str]:
        return [str(EligibilityAssessment._meta.get_field(name).verbose_name) for name in self.not_asked]


class RegistrationCorrectionForm(forms.ModelForm):
    """Correcting what was recorded at registration: the reason is required (audit)."""

    reason = forms.CharField(
        label=_("Reason for the correction"),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("e.g. “Date checked against the operation note”. Kept in the history with the old value."),
    )

    class Meta:
        model = Patient
        fields = ["year_of_birth", "sex", "primary_resection_date", "liver_resection_date"]
        widgets = {"primary_resection_date": DateInput(), "liver_resection_date": DateInput()}
        help_texts = {
            "liver_resection_date": _("The visit schedule is anchored on this date: visits not yet done move with it.")
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("primary_resection_date", "liver_resection_date"):
            self.fields[name].validators.append(not_in_future)

    def clean(self):
        cleaned = super().clean()
        primary, liver = cleaned.get("primary_resection_date"), cleaned.get("liver_resection_date")
        if primary and liver and primary > liver:
            self.add_error(
                "primary_resection_date",
                _("The primary must be resected before or with the liver metastases (protocol inclusion 6)."),
            )
        return cleaned

    def _post_clean(self):
        # The service writes the patient (audited); the form only validates, so the instance the
        # page shows keeps its saved values until the correction is saved.
        pass

    def changes(self) -> dict:
        return {n: self.cleaned_data[n] for n in self.Meta.fields if self.cleaned_data[n] != getattr(self.instance, n)}


class SampleConsentWithdrawalForm(forms.Form):
    withdrawn_on = forms.DateField(label=_("Date withdrawn"), widget=DateInput(), validators=[not_in_future])
    reason = forms.CharField(
        label=_("Reason, or what the patient said"), widget=forms.Textarea(attrs={"rows": 2}), max_length=500
    )
