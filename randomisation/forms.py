from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import ReasonFormMixin

from .models import FACTOR_LEVELS, RandomisationConfig


class ConfigForm(ReasonFormMixin, forms.ModelForm):
    factors = forms.MultipleChoiceField(
        label=_("Stratification factors"),
        widget=forms.CheckboxSelectMultiple,
        choices=[(f, f.replace("_", " ").capitalize()) for f in FACTOR_LEVELS],
    )
    block_sizes = forms.CharField(label=_("Block sizes"), help_text=_("Even numbers separated by commas, e.g. 2, 4"))

    class Meta:
        model = RandomisationConfig
        fields = [
            "method",
            "factors",
            "stratify_by_site",
            "block_sizes",
            "target",
            "headroom_percent",
            "minimisation_probability",
            "imbalance",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["block_sizes"] = ", ".join(str(s) for s in self.instance.block_sizes)
        self.fields["reason"].help_text = _("Required for a change once patients have been randomised.")

    def clean_block_sizes(self):
        try:
            sizes = sorted({int(part) for part in self.cleaned_data["block_sizes"].split(",") if part.strip()})
        except ValueError as exc:
            raise forms.ValidationError(_("Whole numbers separated by commas, e.g. 2, 4.")) from exc
        if not sizes or any(s < 2 or s % 2 for s in sizes):
            raise forms.ValidationError(_("Block sizes must be even numbers of at least 2 (1:1 ratio)."))
        return sizes


class GenerateForm(forms.Form):
    seed = forms.CharField(
        label=_("Seed (optional)"),
        required=False,
        max_length=64,
        help_text=_(
            "At least 32 hexadecimal digits (128 bits). Leave empty and the EDC generates a 256-bit seed "
            "from the operating system's secure generator and records it."
        ),
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("Allocation list (CSV)"), help_text=_("Columns: stratum, sequence, block, arm (A or B). At most 2 MB.")
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > 2 * 1024 * 1024:
            raise forms.ValidationError(_("The file is larger than 2 MB."))
        if not upload.name.lower().endswith(".csv"):
            raise forms.ValidationError(_("Upload a .csv file."))
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(_("The file is not UTF-8 text.")) from exc


class RandomiseForm(forms.Form):
    """The confirmation to randomise; past the protocol's limit it asks for the deviation's reason."""

    late_reason = forms.CharField(
        label=_("Protocol deviation: reason for randomising late"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )

    def __init__(self, *args, late: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if late:
            self.fields["late_reason"].required = True
        else:
            del self.fields["late_reason"]
