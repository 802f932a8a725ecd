"""The one door to site records: look inside the user's sites only, 404 for missing and forbidden."""

from django.shortcuts import get_object_or_404

from .models import Delegation, Site


def access_site(*, user, code: str) -> Site:
    return get_object_or_404(Site.objects.visible_to(user).select_related("pi"), code=code)


def access_delegation(*, user, site: Site, delegation_id: int) -> Delegation:
    return get_object_or_404(
        Delegation.objects.visible_to(user).select_related("site", "user"), pk=delegation_id, site=site
    )
