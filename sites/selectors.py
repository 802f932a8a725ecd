"""Reads about sites and delegation that other domains rely on."""

from __future__ import annotations

from .models import Site


def user_has_duty(user, site: Site, duty: str) -> bool:
    """Whether ``user`` holds a current delegation at ``site`` that includes ``duty``.

    Reads the delegation entries loaded once per user object (``User.delegation_grants``); the
    permission policy (core.policy) answers who may do an action, duty included."""
    if not user.is_authenticated or not user.is_active:
        return False
    site_id = getattr(site, "pk", site)
    return any(held == site_id and duty in duties for held, _role, duties in user.delegation_grants)
