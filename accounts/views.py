from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from .errors import DomainError
from .forms import LoginForm, UserCreateForm, UserUpdateForm, form_add_domain_error
from .history import record_events, record_history
from .models import AuditEvent, User
from .permissions import trial_role_required
from .roles import TrialRole
from .services import user_create, user_update


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


@trial_role_required(TrialRole.SYSADMIN)
def user_list(request):
    users = User.objects.order_by("full_name").prefetch_related("delegations__site")
    return render(request, "accounts/user_list.html", {"users": users})


@trial_role_required(TrialRole.SYSADMIN)
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


@trial_role_required(TrialRole.SYSADMIN)
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


@trial_role_required(TrialRole.SYSADMIN)
def user_history(request, username):
    user = get_object_or_404(User, username=username)
    return render_history(request, user, title=_("History of account %(u)s") % {"u": user.username})


@trial_role_required(TrialRole.SYSADMIN, TrialRole.TRIAL_MANAGER)
def audit_log(request):
    events = AuditEvent.objects.select_related("actor")
    kind = request.GET.get("kind", "")
    if kind:
        events = events.filter(kind=kind)
    return render(
        request,
        "audit/audit_log.html",
        {"events": events[:300], "kinds": AuditEvent.Kind.choices, "kind": kind},
    )


def render_history(request, obj, *, title: str, timezone_name: str | None = None, back_url: str = ""):
    """The history page of any audited record. The caller has already done the access check."""
    return render(
        request,
        "audit/history.html",
        {
            "title": title,
            "record": obj,
            "entries": record_history(obj, timezone_name=timezone_name),
            "events": record_events(obj),
            "timezone_name": timezone_name,
            "back_url": back_url,
        },
    )
