"""The permission policy as a page: what the system enforces, generated from core.policy."""

from django.shortcuts import render

from accounts.permissions import action_required

from .policy import Action
from .selectors import ROLE_COLUMNS, policy_rows


@action_required(Action.POLICY_VIEW)
def policy_page(request):
    return render(request, "core/policy.html", {"columns": ROLE_COLUMNS, "rows": policy_rows()})
