"""The navigation: each role sees only what the permission policy lets it use."""

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from core.policy import Action, Allowed, can

# (label, url name, the action the page needs). Each page's view guards itself with the same action.
NAV_ITEMS = [
    (_("Home"), "home", None),
    (_("Patients"), "patients:patient_list", Action.TRIAL_DATA_VIEW),
    (_("Screening log"), "patients:screening_list", Action.TRIAL_DATA_VIEW),
    (_("Consent versions"), "patients:consent_documents", Action.CONSENT_DOCUMENT_VIEW),
    (_("Record status"), "reports:record_status_grid", Action.RECORD_STATUS_VIEW),
    (_("SDV"), "reports:sdv_queue", Action.SDV_QUEUE_VIEW),
    (_("Queries"), "crf:query_list", Action.TRIAL_DATA_VIEW),
    (_("Safety"), "safety:sae_list", Action.TRIAL_DATA_VIEW),
    (_("MedDRA coding"), "safety:coding_list", Action.MEDDRA_CODE),
    (_("Randomisation"), "randomisation:overview", Action.RANDOMISATION_OVERVIEW),
    (_("Sites"), "sites:site_list", Action.TRIAL_DATA_VIEW),
    (_("Recruitment"), "reports:recruitment", Action.DASHBOARD_RECRUITMENT),
    (_("Data quality"), "reports:data_quality", Action.DASHBOARD_DATA_QUALITY),
    (_("Lock & export"), "reports:dataset", Action.DATASET_VIEW),
    (_("Accounts"), "accounts:user_list", Action.ACCOUNT_MANAGE),
    (_("Access review"), "reports:access_review", Action.ACCESS_REVIEW),
    (_("Audit trail"), "accounts:audit_log", Action.AUDIT_VIEW_ACCOUNTS),
    (_("Permission policy"), "policy", Action.POLICY_VIEW),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    for label, url_name, action in NAV_ITEMS:
        if action is not None and not can(user, action):
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
    # ``may.<action>`` for buttons of pages not about one site; a page about one site's record
    # passes its own Allowed(user, site) under the same name.
    return {"nav_items": items, "may": Allowed(user)}
