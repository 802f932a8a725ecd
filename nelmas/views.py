"""The home page per role, health check and error pages."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.functional import SimpleLazyObject

from accounts.models import User
from core.health import health_report
from core.policy import Action, can
from core.roles import TrialRole
from core.site_cache import sites_stamp
from crf.selectors import site_query_summary, visits_due
from patients.selectors import home_worklist
from reports.work_queue import work_queue
from safety.selectors import overdue_saes
from sites.models import Site


@login_required
def home(request):
    user = request.user
    sites = Site.objects.visible_to(user).select_related("pi")
    context = {
        "sites": sites,
        "is_sysadmin": can(user, Action.ACCOUNT_MANAGE) and not can(user, Action.TRIAL_DATA_VIEW),
        "site_roles": user.site_roles,
        "work_queue": work_queue(user),
    }
    if can(user, Action.TRIAL_DATA_VIEW):
        context["overdue_saes"] = overdue_saes(user=user)  # live: SAE deadlines pass without a save
    if user.has_site_role():
        # The site staff's four panels are rendered once per state of their sites and kept until a
        # visit, query, patient or re-consent task of those sites is saved, or the day changes
        # (core.site_cache, {% cache %} in the template): at 5,000 patients a site their counts
        # and lists were two thirds of the page. Read only when the panels are rendered.
        context.update(
            {
                "site_panels": sites_stamp(user.site_roles),
                "site_panels_seconds": settings.SITE_FIGURES_SECONDS,
                "worklist": SimpleLazyObject(lambda: home_worklist(user=user)),
                "visits": SimpleLazyObject(lambda: visits_due(user=user)),
                "site_queries": SimpleLazyObject(lambda: site_query_summary(user=user)),
            }
        )
    return render(request, "home.html", context)


def healthz(request):
    """For the load balancer and monitoring: 200 when the database, Redis and the worker are up."""
    report, healthy = health_report()
    return JsonResponse(report, status=200 if healthy else 503)


def _who_grants_access(user) -> dict:
    """Who can give the user what they lack: their sites' PIs (site roles, through the delegation
    log), the trial managers and the system administrators (trial-wide roles and accounts)."""
    if not getattr(user, "is_authenticated", False):
        return {}
    active = User.objects.filter(is_active=True).order_by("full_name", "username")
    return {
        "site_pis": [s.pi for s in Site.objects.visible_to(user).select_related("pi") if s.pi_id]
        if user.has_site_role()
        else [],
        "trial_managers": list(active.filter(trial_role=TrialRole.TRIAL_MANAGER)),
        "administrators": list(active.filter(trial_role=TrialRole.SYSADMIN)),
    }


def error_403(request, exception=None):
    return render(request, "errors/403.html", _who_grants_access(request.user), status=403)


def error_404(request, exception=None):
    return render(request, "errors/404.html", status=404)


def error_500(request):
    # No request context: context processors query the database, which may be what failed.
    return HttpResponseServerError(loader.get_template("errors/500.html").render())
