"""Role × site matrix: every site-scoped page answers each role with its own data, and 404 for
another site's, never 403. Trial-wide data roles see both sites; the system administrator, who
manages accounts, sees no trial data.

The test enumerates the URL patterns itself, so a new site-scoped view without a row here fails.
"""

import importlib
import re

import pytest
from django.urls import get_resolver, reverse

from sites.models import Delegation
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


# Namespaces whose URLs address trial records. Each app lists its URLs in tests/<app>/matrix.py.
SCOPED_NAMESPACES = ("sites", "patients", "randomisation", "crf", "safety", "reports")


def _collect_matrix() -> dict:
    urls = {}
    for app in SCOPED_NAMESPACES:
        try:
            module = importlib.import_module(f"tests.{app}.matrix")
        except ModuleNotFoundError:
            continue
        urls.update(module.URLS)
    return urls


SITE_URLS = _collect_matrix()
# URLs that take an argument but address no site's record (a trial-wide list filter, a global
# configuration): name → why they are exempt. Keep this short and justified.
EXEMPT: dict[str, str] = {
    # Only a finished file can be downloaded; the matrix covers the same access_generated_file door
    # through reports:generated_file, and test_generated_files checks downloads per role.
    "reports:generated_file_download": "same access function as reports:generated_file",
    # Accounts are not site records: trial manager and administrator only (tests/reports/test_access_review.py).
    "reports:account_deactivate": "account administration, role-checked, not site-scoped",
    # The argument names a work list, not a record; each list's site scope per role is tested in
    # tests/reports/test_role_queues.py.
    "reports:role_worklist": "a list kind, not a record: site scope in tests/reports/test_role_queues.py",
}


def _object_patterns():
    """Names of every URL pattern in the scoped namespaces that takes an argument."""
    names = []
    for pattern in get_resolver().url_patterns:
        if getattr(pattern, "namespace", None) not in SCOPED_NAMESPACES:
            continue
        for sub in pattern.url_patterns:
            if getattr(sub, "name", None) and "<" in str(sub.pattern):
                names.append(f"{pattern.namespace}:{sub.name}")
    return names


ROLES = ["pi_a", "nurse_a", "trial_manager", "data_manager", "monitor", "statistician", "sysadmin"]
SEES_BOTH = {"trial_manager", "data_manager", "monitor", "statistician"}
SEES_NONE = {"sysadmin"}


def test_every_record_view_is_in_the_matrix():
    missing = set(_object_patterns()) - set(SITE_URLS) - set(EXEMPT)
    assert not missing, f"add these views to tests/<app>/matrix.py: {sorted(missing)}"


@pytest.mark.parametrize("url_name", sorted(SITE_URLS))
@pytest.mark.parametrize("role", ROLES)
def test_role_sees_own_site_and_404_for_the_other(client, world, role, url_name):
    user = getattr(world, role)
    client.force_login(user)
    method, build = SITE_URLS[url_name]
    for site, own in ((world.site_a, True), (world.site_b, False)):
        url = reverse(url_name, kwargs=build(site))
        response = getattr(client, method)(url, {"reason": "matrix"} if method == "post" else None)
        visible = role in SEES_BOTH or (own and role not in SEES_NONE)
        if visible:
            assert response.status_code != 404, f"{role} should reach {url}"
            assert response.status_code in (200, 302, 403)
        else:
            assert response.status_code == 404, f"{role} must get 404 for {url}, got {response.status_code}"
            assert site.name.encode() not in response.content


@pytest.mark.parametrize("role", ROLES)
def test_lists_and_home_show_only_visible_sites(client, world, role):
    user = getattr(world, role)
    client.force_login(user)
    for url in (reverse("home"), reverse("sites:site_list")):
        response = client.get(url)
        if url == reverse("sites:site_list") and role in SEES_NONE:
            body = response.content
        else:
            assert response.status_code == 200
            body = response.content
        shows_a, shows_b = b"GB01" in body, b"NL01" in body
        if role in SEES_BOTH:
            assert shows_a and shows_b
        elif role in SEES_NONE:
            assert not shows_a and not shows_b
        else:
            assert shows_a and not shows_b


def test_site_b_nurse_is_symmetric(client, world):
    client.force_login(world.nurse_b)
    assert client.get(reverse("sites:site_detail", kwargs={"code": "NL01"})).status_code == 200
    assert client.get(reverse("sites:site_detail", kwargs={"code": "GB01"})).status_code == 404


def test_missing_and_forbidden_site_answer_the_same(client, world):
    client.force_login(world.nurse_a)
    forbidden = client.get(reverse("sites:site_detail", kwargs={"code": "NL01"}))
    missing = client.get(reverse("sites:site_detail", kwargs={"code": "ZZ99"}))
    assert forbidden.status_code == missing.status_code == 404
    # Identical but for the per-request CSRF token: nothing tells an existing site from a missing one.
    strip = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
    assert strip.sub(b"", forbidden.content) == strip.sub(b"", missing.content)


def test_delegation_of_other_site_under_own_code_is_404(client, world):
    """A delegation id of site B addressed through site A's URL must not resolve."""
    other = Delegation.objects.filter(site=world.site_b).first()
    client.force_login(world.pi_a)
    url = reverse("sites:delegation_history", kwargs={"code": "GB01", "delegation_id": other.pk})
    assert client.get(url).status_code == 404


def test_anonymous_user_is_sent_to_login(client, world):
    response = client.get(reverse("sites:site_detail", kwargs={"code": "GB01"}))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_unsigned_or_ended_delegation_sees_nothing(client, world):
    from tests.sites.factories import DelegationFactory

    pending = DelegationFactory(site=world.site_a, pi_signed_off_at=None).user
    import datetime as dt

    from django.utils import timezone

    ended = DelegationFactory(site=world.site_a, end_date=timezone.localdate() - dt.timedelta(days=1)).user
    for user in (pending, ended):
        client.force_login(user)
        assert client.get(reverse("sites:site_detail", kwargs={"code": "GB01"})).status_code == 404
        assert b"GB01" not in client.get(reverse("home")).content


def test_inactive_trial_manager_sees_nothing(client, world):
    world.trial_manager.is_active = False
    world.trial_manager.save()
    from sites.models import Site

    assert not Site.objects.visible_to(world.trial_manager).exists()


pytestmark = requirement_marks(pytestmark, "URS-ACC-001", "URS-ACC-002")
