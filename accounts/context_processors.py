"""The navigation: each role sees only what it may use."""

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from .roles import INVESTIGATOR_ROLES, TrialRole

# (label, url name, predicate on the user). Later apps add their entries here.
_ITEMS = [
    (_("Home"), "home", lambda u: True),
    (_("Patients"), "patients:patient_list", lambda u: u.sees_all_sites or u.has_site_role()),
    (_("Screening log"), "patients:screening_list", lambda u: u.sees_all_sites or u.has_site_role()),
    (
        _("Consent versions"),
        "patients:consent_documents",
        lambda u: u.has_trial_role(TrialRole.TRIAL_MANAGER, TrialRole.DATA_MANAGER, TrialRole.MONITOR),
    ),
    (
        _("Record status"),
        "reports:record_status_grid",
        lambda u: (
            u.has_site_role() or u.has_trial_role(TrialRole.TRIAL_MANAGER, TrialRole.DATA_MANAGER, TrialRole.MONITOR)
        ),
    ),
    (
        _("SDV"),
        "reports:sdv_queue",
        lambda u: u.has_trial_role(TrialRole.MONITOR, TrialRole.DATA_MANAGER, TrialRole.TRIAL_MANAGER),
    ),
    (_("Queries"), "crf:query_list", lambda u: u.sees_all_sites or u.has_site_role()),
    (_("Safety"), "safety:sae_list", lambda u: u.sees_all_sites or u.has_site_role()),
    (
        _("Randomisation"),
        "randomisation:overview",
        lambda u: u.has_trial_role(TrialRole.STATISTICIAN, TrialRole.TRIAL_MANAGER),
    ),
    (_("Sites"), "sites:site_list", lambda u: u.sees_all_sites or u.has_site_role()),
    (
        _("Recruitment"),
        "reports:recruitment",
        lambda u: (
            u.has_trial_role(TrialRole.TRIAL_MANAGER, TrialRole.DATA_MANAGER, TrialRole.MONITOR, TrialRole.STATISTICIAN)
            or u.has_site_role(None, *INVESTIGATOR_ROLES)
        ),
    ),
    (
        _("Data quality"),
        "reports:data_quality",
        lambda u: u.has_trial_role(TrialRole.TRIAL_MANAGER, TrialRole.DATA_MANAGER, TrialRole.MONITOR),
    ),
    (_("Lock & export"), "reports:dataset", lambda u: u.has_trial_role(TrialRole.DATA_MANAGER)),
    (_("Accounts"), "accounts:user_list", lambda u: u.has_trial_role(TrialRole.SYSADMIN)),
    (
        _("Access review"),
        "reports:access_review",
        lambda u: u.has_trial_role(TrialRole.SYSADMIN, TrialRole.TRIAL_MANAGER),
    ),
    (
        _("Audit trail"),
        "accounts:audit_log",
        lambda u: u.has_trial_role(TrialRole.SYSADMIN, TrialRole.TRIAL_MANAGER),
    ),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    for label, url_name, allowed in _ITEMS:
        if not allowed(user):
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        items.append(
            {
                "label": label,
                "url": url,
                "active": request.path == url or (url != "/" and request.path.startswith(url)),
            }
        )
    return {"nav_items": items}
