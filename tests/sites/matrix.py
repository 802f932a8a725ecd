"""Site-scoped URLs of the sites app for the role × site matrix (tests/test_access_matrix.py).

Each entry: url name → (HTTP method, builder). The builder receives a site and returns the URL
kwargs of a record that belongs to that site (creating one if needed).
"""

from sites.models import Delegation
from tests.sites.factories import DelegationFactory


def _site(site):
    return {"code": site.code}


def _pending(site):
    return DelegationFactory(site=site, pi_signed_off_at=None)


URLS = {
    "sites:site_detail": ("get", _site),
    "sites:site_update": ("get", _site),
    "sites:site_history": ("get", _site),
    "sites:site_status": ("post", lambda site: {"code": site.code, "action": "hold"}),
    "sites:delegation_add": ("get", _site),
    "sites:delegation_sign": (
        "get",
        lambda site: {
            "code": site.code,
            "delegation_id": DelegationFactory(site=site, pi_signed_off_at=None).pk,
        },
    ),
    "sites:delegation_end": (
        "get",
        lambda site: {"code": site.code, "delegation_id": Delegation.objects.filter(site=site).last().pk},
    ),
    "sites:delegation_history": (
        "get",
        lambda site: {"code": site.code, "delegation_id": Delegation.objects.filter(site=site).first().pk},
    ),
}
