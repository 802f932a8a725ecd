import base64

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.errors import DomainError
from core.forms import form_add_domain_error
from core.permissions import action_required, client_ip
from core.policy import Action, can
from core.views import render_history

from .api_tokens import api_token_create, api_token_revoke
from .forms import (
    LoginForm,
    TokenForm,
    TwoFactorResetForm,
    UserCreateForm,
    UserUpdateForm,
)
from .models import ACCOUNT_EVENT_KINDS, ApiToken, AuditEvent, User
from .services import user_create, user_update
from .twofactor import (
    device_management_allowed,
    otp_match,
    requires_two_factor,
    totp_device_remove,
    totp_enrolment_confirm,
    totp_enrolment_start,
    totp_qr_svg,
    two_factor_reset,
)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


@action_required(Action.ACCOUNT_MANAGE)
def user_list(request):
    users = User.objects.order_by("full_name").prefetch_related("delegations__site")
    return render(request, "accounts/user_list.html", {"users": users})


@action_required(Action.ACCOUNT_MANAGE)
def user_create_view(request):
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_create(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Account %(u)s created.") % {"u": user.username})
            return redirect("accounts:user_list")
    return render(request, "accounts/user_form.html", {"form": form, "title": _("New account")})


@action_required(Action.ACCOUNT_MANAGE)
def user_update_view(request, username):
    user = get_object_or_404(User, username=username)
    form = UserUpdateForm(request.POST or None, instance=User.objects.get(pk=user.pk))
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "reason"}
        try:
            user_update(actor=request.user, user=user, data=data, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Account %(u)s saved.") % {"u": user.username})
            return redirect("accounts:user_list")
    return render(
        request,
        "accounts/user_form.html",
        {"form": form, "title": _("Account %(u)s") % {"u": user.username}, "subject": user},
    )


@action_required(Action.ACCOUNT_MANAGE)
def user_history(request, username):
    user = get_object_or_404(User, username=username)
    return render_history(request, user, title=_("History of account %(u)s") % {"u": user.username})


@action_required(Action.AUDIT_VIEW_ACCOUNTS)
def audit_log(request):
    """The audit trail. Whoever may not see trial data (the system administrator) gets the account
    and role events only: their summaries and targets name people and sites, never patients."""
    events = AuditEvent.objects.select_related("actor")
    kinds = AuditEvent.Kind.choices
    if not can(request.user, Action.AUDIT_VIEW_TRIAL):
        events = events.filter(kind__in=ACCOUNT_EVENT_KINDS)
        kinds = [(value, label) for value, label in kinds if value in ACCOUNT_EVENT_KINDS]
    kind = request.GET.get("kind", "")
    if kind:
        events = events.filter(kind=kind)
    return render(
        request,
        "audit/audit_log.html",
        {"events": events[:300], "kinds": kinds, "kind": kind},
    )


@login_required
def two_factor_setup(request):
    """The user's authenticators: the ones confirmed (with removal) and the enrolment of a new one.

    The enrolment issues a secret, so a user who already has a device reaches it only from a
    session verified with that device.
    """
    verified = request.user.is_verified()
    if not device_management_allowed(user=request.user, session_verified=verified):
        messages.info(request, _("Enter a code from your authenticator app first."))
        return redirect(f"{reverse('accounts:two_factor_verify')}?next={reverse('accounts:two_factor_setup')}")
    device = totp_enrolment_start(user=request.user, session_verified=verified)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            confirmed, codes = totp_enrolment_confirm(
                user=request.user, token=form.cleaned_data["token"], session_verified=verified
            )
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            if not verified:
                otp_login(request, confirmed)
            if codes:
                return render(request, "accounts/two_factor_codes.html", {"codes": codes})
            messages.success(
                request, _("%(name)s added; your other authenticators keep working.") % {"name": confirmed.name}
            )
            return redirect("accounts:two_factor_setup")
    secret = base64.b32encode(device.bin_key).decode()
    return render(
        request,
        "accounts/two_factor_setup.html",
        {
            "form": form,
            "qr_svg": mark_safe(totp_qr_svg(device)),  # noqa: S308 - SVG generated by segno from our own URI
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "required": requires_two_factor(request.user),
            "devices": TOTPDevice.objects.filter(user=request.user, confirmed=True).order_by("pk"),
        },
    )


@login_required
@require_POST
def two_factor_device_remove(request, device_id):
    try:
        totp_device_remove(user=request.user, device_id=device_id, session_verified=request.user.is_verified())
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Authenticator removed."))
    return redirect("accounts:two_factor_setup")


@login_required
def two_factor_verify(request):
    form = TokenForm(request.POST or None)
    next_url = request.POST.get("next") or request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    if request.method == "POST" and form.is_valid():
        device = otp_match(
            user=request.user, token=form.cleaned_data["token"], purpose="login", ip_address=client_ip(request)
        )
        if device is None:
            form.add_error("token", _("That code is not correct. Try the newest code from your app."))
        else:
            otp_login(request, device)
            return redirect(next_url)
    return render(request, "accounts/two_factor_verify.html", {"form": form, "next": next_url})


@action_required(Action.ACCOUNT_MANAGE)
def two_factor_reset_view(request, username):
    user = get_object_or_404(User, username=username)
    form = TwoFactorResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        two_factor_reset(actor=request.user, user=user, reason=form.cleaned_data["reason"])
        messages.success(
            request,
            _("Two-factor authentication of %(u)s reset; they set it up again at next login.") % {"u": user.username},
        )
        return redirect("accounts:user_update", username=user.username)
    return render(
        request,
        "accounts/user_form.html",
        {
            "form": form,
            "title": _("Reset two-factor authentication of %(u)s") % {"u": user.username},
        },
    )


@login_required
def api_tokens(request):
    """The user's API tokens: create (shown once), see last use, revoke."""
    new_key = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            token = get_object_or_404(ApiToken, pk=request.POST.get("token"), user=request.user)
            api_token_revoke(token=token, actor=request.user)
            messages.success(request, _("Token revoked."))
            return redirect("accounts:api_tokens")
        try:
            _token, new_key = api_token_create(user=request.user, name=request.POST.get("name", ""))
        except DomainError as exc:
            messages.error(request, exc.message)
    return render(
        request,
        "accounts/api_tokens.html",
        {"tokens": ApiToken.objects.filter(user=request.user), "new_key": new_key, "now": timezone.now()},
    )
