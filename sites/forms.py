import zoneinfo

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from core.forms import ReasonFormMixin
from core.roles import SiteRole
from core.validators import not_in_future, not_in_future_at

from .models import Duty, Site

_TIMEZONES = [(tz, tz) for tz in sorted(zoneinfo.available_timezones()) if "/" in tz and not tz.startswith("Etc/")]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class SiteForm(ReasonFormMixin, forms.ModelForm):
    timezone = forms.ChoiceField(choices=_TIMEZONES, initial="Europe/London")

    class Meta:
        model = Site
        fields = [
            "code",
            "name",
            "country",
            "timezone",
            "pi",
            "recruitment_target",
            "planned_activation_date",
            "ethics_approval_date",
            "rd_approval_date",
            "contract_signed_date",
            "initiation_visit_date",
            "pi_cv_on_file",
            "pi_gcp_on_file",
        ]
        widgets = {
            name: DateInput()
            for name in (
                "planned_activation_date",
                "ethics_approval_date",
                "rd_approval_date",
                "contract_signed_date",
                "initiation_visit_date",
            )
        }

    PAST_DATES = ("ethics_approval_date", "rd_approval_date", "contract_signed_date", "initiation_visit_date")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pi"].queryset = User.objects.filter(is_active=True).order_by("full_name")
        for name in self.PAST_DATES:
            self.fields[name].validators.append(not_in_future)
        if self.instance.pk:
            # The code is part of every trial number issued at the site; it never changes.
            self.fields["code"].disabled = True
        else:
            del self.fields["reason"]

    def clean_code(self):
        return self.cleaned_data["code"].upper() if not self.instance.pk else self.instance.code

    def clean(self):
        cleaned = super().clean()
        # The approvals happened on the site's calendar: the timezone entered, else the saved one.
        zone = cleaned.get("timezone") or self.instance.timezone
        for name in self.PAST_DATES:
            if name in cleaned:
                try:
                    not_in_future_at(zone)(cleaned[name])
                except forms.ValidationError as exc:
                    self.add_error(name, exc)
        return cleaned


class SiteStatusForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class DelegationForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.none(),
        label=_("Staff member"),
        required=False,
        help_text=_("People on this site's delegation log, now or before."),
    )
    email = forms.EmailField(
        label=_("or the e-mail address of their account"),
        required=False,
        help_text=_("For someone new to this site: their exact e-mail address, as the administrator registered it."),
    )
    role = forms.ChoiceField(choices=[c for c in SiteRole.choices if c[0] != SiteRole.PRINCIPAL_INVESTIGATOR])
    duties = forms.MultipleChoiceField(choices=Duty.choices, widget=forms.CheckboxSelectMultiple)
    start_date = forms.DateField(widget=DateInput(), initial=timezone.localdate)
    end_date = forms.DateField(widget=DateInput(), required=False)

    def __init__(self, *args, site, **kwargs):
        super().__init__(*args, **kwargs)
        # Only accounts that belong at this site are listed: listing every account showed a site's
        # PI the names of other sites' staff (issue 19). Someone new is found by exact e-mail.
        # Trial-wide staff are not delegated site duties.
        self._eligible = User.objects.filter(is_active=True, trial_role="")
        self.fields["user"].queryset = self._eligible.filter(delegations__site=site).distinct().order_by("full_name")

    def clean(self):
        cleaned = super().clean()
        email = cleaned.pop("email", "")
        if email and not cleaned.get("user"):
            found = self._eligible.filter(email__iexact=email).first()
            if found is None:
                self.add_error("email", _("No active site staff account has exactly this e-mail address."))
            cleaned["user"] = found
        elif not cleaned.get("user") and "user" not in self.errors:
            self.add_error("user", _("Choose the staff member, or give the e-mail address of their account."))
        start, end = cleaned.get("start_date"), cleaned.get("end_date")
        if start and end and end < start:
            self.add_error("end_date", _("The end date is before the start date."))
        return cleaned


class DelegationEndForm(forms.Form):
    end_date = forms.DateField(widget=DateInput(), initial=timezone.localdate)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))
