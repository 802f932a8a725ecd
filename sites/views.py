from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.forms import SignatureForm, form_add_domain_error, posted_text, posted_version
from core.permissions import action_required, client_ip
from core.policy import Action, Allowed, deny_unless
from core.signatures import signature_identity_needed, signature_session_mark, signature_status
from core.views import render_history

from . import services
from .access import access_delegation, access_site
from .forms import DelegationEndForm, DelegationForm, SiteForm, SiteStatusForm
from .models import Site


@action_required(Action.TRIAL_DATA_VIEW)
def site_list(request):
    sites = Site.objects.visible_to(request.user).select_related("pi")
    status = request.GET.get("status", "")
    if status in Site.Status.values:  # the trial manager's home links to the sites to activate
        sites = sites.filter(status=status)
    return render(request, "sites/site_list.html", {"sites": sites, "status": status})


@action_required(Action.SITE_REGISTER)
def site_create(request):
    form = SiteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            site = services.site_register(actor=request.user, data=form.cleaned_data)
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(
                request,
                _("Site %(code)s registered. Complete its checklist to activate it.") % {"code": site.code},
            )
            return redirect("sites:site_detail", code=site.code)
    return render(request, "sites/site_form.html", {"form": form, "title": _("Register a site")})


@login_required
def site_detail(request, code):
    site = access_site(user=request.user, code=code)
    delegations = site.delegations.select_related("user", "pi_signed_off_by").order_by("end_date", "role")
    return render(
        request,
        "sites/site_detail.html",
        {
            "site": site,
            "delegations": delegations,
            "may": Allowed(request.user, site),
            "status_form": SiteStatusForm(),
        },
    )


@login_required
def site_update(request, code):
    site = access_site(user=request.user, code=code)
    deny_unless(request.user, Action.SITE_REGISTER, site)
    form = SiteForm(request.POST or None, instance=Site.objects.get(pk=site.pk))
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k not in ("reason", "code")}
        try:
            services.site_update(
                actor=request.user,
                site=site,
                data=data,
                reason=form.cleaned_data["reason"],
                expected_version=posted_version(request),
            )
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Site %(code)s saved.") % {"code": site.code})
            return redirect("sites:site_detail", code=site.code)
    return render(
        request,
        "sites/site_form.html",
        {"form": form, "site": site, "title": _("Edit site %(code)s") % {"code": site.code}},
    )


@require_POST
@login_required
def site_status(request, code, action):
    site = access_site(user=request.user, code=code)
    deny_unless(request.user, Action.SITE_ACTIVATE, site)
    form = SiteStatusForm(request.POST)
    try:
        if action == "activate":
            services.site_activate(actor=request.user, site=site, reason=posted_text(request, "reason"))
        elif not form.is_valid():
            raise DomainError(_("Give a reason for putting the site on hold or closing it."))
        elif action == "hold":
            services.site_hold(actor=request.user, site=site, reason=form.cleaned_data["reason"])
        elif action == "close":
            services.site_close(actor=request.user, site=site, reason=form.cleaned_data["reason"])
        else:
            raise DomainError(_("Unknown site action."))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        site.refresh_from_db()
        messages.success(
            request,
            _("Site %(code)s is now %(status)s.") % {"code": site.code, "status": site.get_status_display().lower()},
        )
    return redirect("sites:site_detail", code=site.code)


@login_required
def site_history(request, code):
    site = access_site(user=request.user, code=code)
    return render_history(
        request,
        site,
        title=_("History of site %(code)s") % {"code": site.code},
        timezone_name=site.timezone,
        back_url=site.get_absolute_url(),
    )


@login_required
def delegation_add(request, code):
    site = access_site(user=request.user, code=code)
    deny_unless(request.user, Action.DELEGATION_MANAGE, site)
    form = DelegationForm(request.POST or None, site=site)
    if request.method == "POST" and form.is_valid():
        try:
            services.delegation_add(actor=request.user, site=site, **form.cleaned_data)
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Entry added. It takes effect when the PI signs it off."))
            return redirect("sites:site_detail", code=site.code)
    return render(
        request,
        "sites/delegation_form.html",
        {"form": form, "site": site, "title": _("Add to the delegation log")},
    )


@login_required
def delegation_sign_off(request, code, delegation_id):
    site = access_site(user=request.user, code=code)
    entry = access_delegation(user=request.user, site=site, delegation_id=delegation_id)
    deny_unless(request.user, Action.DELEGATION_SIGN, site)
    form = SignatureForm(
        request.POST or None,
        meaning=services.DELEGATION_SIGN_OFF_MEANING,
        user=request.user,
        identity_needed=signature_identity_needed(request.session),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.delegation_sign_off(
                actor=request.user,
                entry=entry,
                password=form.cleaned_data["password"],
                otp_token=form.cleaned_data.get("otp_token", ""),
                ip_address=client_ip(request),
                username=form.cleaned_data.get("username"),
            )
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            signature_session_mark(request.session)
            messages.success(request, _("Delegation signed off."))
            return redirect("sites:site_detail", code=site.code)
    return render(
        request,
        "sites/delegation_sign.html",
        {
            "form": form,
            "site": site,
            "entry": entry,
            "signatures": signature_status(obj=entry),
        },
    )


@login_required
def delegation_end(request, code, delegation_id):
    site = access_site(user=request.user, code=code)
    entry = access_delegation(user=request.user, site=site, delegation_id=delegation_id)
    deny_unless(request.user, Action.DELEGATION_MANAGE, site)
    form = DelegationEndForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.delegation_end(actor=request.user, entry=entry, **form.cleaned_data)
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Delegation ended."))
            return redirect("sites:site_detail", code=site.code)
    return render(
        request,
        "sites/delegation_form.html",
        {"form": form, "site": site, "entry": entry, "title": _("End delegation")},
    )


@login_required
def delegation_history(request, code, delegation_id):
    site = access_site(user=request.user, code=code)
    entry = access_delegation(user=request.user, site=site, delegation_id=delegation_id)
    return render_history(
        request,
        entry,
        title=_("History of delegation: %(e)s") % {"e": entry},
        timezone_name=site.timezone,
        back_url=site.get_absolute_url(),
    )
