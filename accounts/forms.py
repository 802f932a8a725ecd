from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from core.forms import ReasonFormMixin
from core.roles import TrialRole

from .models import User


class LoginForm(AuthenticationForm):
    username = forms.CharField(
        label=_("Username or e-mail"), max_length=254, widget=forms.TextInput(attrs={"autofocus": True})
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "That username/e-mail and password do not match an active account. "
            "After 5 failed attempts the account is locked for 30 minutes."
        ),
    }


class UserCreateForm(forms.Form):
    username = forms.SlugField(max_length=150)
    full_name = forms.CharField(max_length=150, help_text=_("As it will appear on electronic signatures."))
    email = forms.EmailField()
    trial_role = forms.ChoiceField(choices=TrialRole.choices, required=False, label=_("Trial-wide role"))
    password = forms.CharField(
        widget=forms.PasswordInput, help_text=_("At least 12 characters; the user changes it at first use.")
    )

    def clean_username(self):
        username = self.cleaned_data["username"]
        if User.objects.filter(username=username).exists():
            raise forms.ValidationError(_("An account with this username exists."))
        return username

    def clean_email(self):
        email = self.cleaned_data["email"].lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this e-mail exists."))
        return email


class UserUpdateForm(ReasonFormMixin, forms.ModelForm):
    class Meta:
        model = User
        fields = ["full_name", "email", "trial_role", "is_active"]

    def clean_email(self):
        email = self.cleaned_data["email"].lower()
        if User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("An account with this e-mail exists."))
        return email


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("One-time code"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
        help_text=_("The 6-digit code from your authenticator app, or an 8-digit backup code."),
    )


class TwoFactorResetForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))
