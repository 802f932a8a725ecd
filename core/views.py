"""Pages every domain shares: the history page of an audited record, the source data verification
of a non-CRF record, and the permission policy as a page (what the system enforces, generated from
core.policy)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from .errors import DomainError
from .history import record_events, record_history
from .permissions import action_required
from .policy import Action, deny_unless
from .selectors import ROLE_COLUMNS, policy_rows
from .verification import kind_of, record_verify


@action_required(Action.POLICY_VIEW)
def policy_page(request):
    return render(request, "core/policy.html", {"columns": ROLE_COLUMNS, "rows": policy_rows()})


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


def verify_record(request, record, *, back_url: str):
    """POST: the monitor verifies ``record`` (consent, eligibility, SAE report), then returns to the
    queue it came from (``next``, same site only) or to the record's page. The caller has already
    done the access check (404 outside the user's sites); the policy answers 403 here."""
    deny_unless(request.user, Action.SDV, kind_of(record).site(record))
    try:
        record_verify(record=record, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Source data verified."))
    target = request.POST.get("next", "")
    ok = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return redirect(target if ok and target.startswith("/") else back_url)
