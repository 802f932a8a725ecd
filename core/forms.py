"""Form pieces every domain's pages share: the reason-for-change box, the e-signature form, and
showing a service's DomainError at its field."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .errors import DomainError
from .signatures import signer_has_second_factor


class ReasonFormMixin(forms.Form):
    """Adds the reason-for-change box. Whether it is required is the service's rule (audit)."""

    reason = forms.CharField(
        label=_("Reason for change"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required when you change data that was already saved."),
    )


class SignatureForm(forms.Form):
    """Password re-entry and explicit acceptance of the stated meaning (21 CFR 11.200)."""

    password = forms.CharField(
        label=_("Your password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    accept = forms.BooleanField()

    def __init__(self, *args, meaning: str, user=None, identity_needed: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.meaning = meaning
        if identity_needed:
            # The first signing of a session asks for the user id too (21 CFR 11.200(a)(1)(i)).
            self.fields["username"] = forms.CharField(
                label=_("Your user id"),
                widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
            )
            self.order_fields(["username", "password"])
        if user is not None and signer_has_second_factor(user):
            # Both factors at each signing when the signer has them (21 CFR 11.200(a)(1)).
            self.fields["otp_token"] = forms.CharField(
                label=_("One-time code"),
                max_length=12,
                widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
                help_text=_("From your authenticator app, or one of your backup codes."),
            )
            self.order_fields(["password", "otp_token", "accept"])
        self.fields["accept"].label = _(
            "I sign with the meaning “%(meaning)s”. This electronic signature is the legally binding "
            "equivalent of my handwritten signature."
        ) % {"meaning": meaning}


def form_add_domain_error(form: forms.Form, exc) -> None:
    """Show a service's refusal next to the field it concerns, or at the top of the form."""
    errors = getattr(exc, "errors", None)
    if errors:  # a service that reports every rule broken at once, each at its field
        for field, message in errors:
            form.add_error(field if field in form.fields else None, message)
        return
    field = exc.field if getattr(exc, "field", None) in form.fields else None
    form.add_error(field, exc.message)


def posted_text(request, name: str, *, max_length: int | None = None, label: str = "") -> str:
    """One free-text value of a small POST form (a reason), cleaned as a form field cleans it:
    stripped, NUL characters refused, at most the model's ``max_length``. Refusals are DomainErrors
    naming the field, so the views show them like a service's (a NUL reached PostgreSQL as a
    ValueError and an over-long reason as a DataError: both were 500s, issue 19)."""
    field = forms.CharField(required=False, max_length=max_length)
    try:
        return field.clean(request.POST.get(name, ""))
    except forms.ValidationError as exc:
        prefix = f"{label or name.replace('_', ' ').capitalize()}: "
        raise DomainError(prefix + " ".join(exc.messages), code="invalid", field=name) from exc


def posted_version(request, name: str = "version") -> int:
    """The record version the form was opened at. Required and a whole number: a missing or garbled
    version must never fall back to the current one and so skip the conflict check (issue 19)."""
    field = forms.IntegerField(min_value=0)
    try:
        return field.clean(request.POST.get(name))
    except forms.ValidationError as exc:
        raise DomainError(
            _("The form was sent without the version it was opened at: reload the page and enter the change again."),
            code="invalid_version",
            field=name,
        ) from exc
