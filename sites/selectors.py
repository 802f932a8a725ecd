"""Reads about sites and delegation that other domains rely on."""

from __future__ import annotations

from .models import Delegation, Site


def user_has_duty(user, site: Site, duty: str) -> bool:
    """Whether ``user`` holds a current delegation at ``site`` that includes ``duty``."""
    if not user.is_authenticated or not user.is_active:
        return False
    return any(duty in (entry.duties or []) for entry in Delegation.objects.current().filter(user=user, site=site))
