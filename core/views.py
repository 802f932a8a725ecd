"""Pages every domain shares: the history page of an audited record, and the permission policy as
a page (what the system enforces, generated from core.policy)."""

from django.shortcuts import render

from .history import record_events, record_history
from .permissions import action_required
from .policy import Action
from .selectors import ROLE_COLUMNS, policy_rows


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
