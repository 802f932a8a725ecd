"""Shared fixtures: a two-site trial with a user in every role."""

import json
import os
from dataclasses import dataclass

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection

from accounts.models import User
from core.roles import SiteRole, TrialRole
from sites.models import Site
from tests.accounts.factories import TEST_PASSWORD, UserFactory
from tests.sites.factories import DelegationFactory, SiteFactory

# The live test server listens with socketserver's backlog of 5; the concurrency tests open two
# dozen connections at once, and on a loaded machine the kernel reset the overflow (seen in 2 of
# 8 runs). Gunicorn in production listens with a backlog of 2048.
ThreadedWSGIServer.request_queue_size = 128


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` need the real database: they fail, never skip, without it.

    With VALIDATION_MAP set (make validation-report), the requirements each test verifies are
    written there as JSON for the traceability matrix.
    """
    for item in items:
        if item.get_closest_marker("postgres"):
            item.fixturenames.append("_require_postgres")
    # Under pytest-xdist every worker collects the same tests (xdist checks it); the first writes.
    if os.environ.get("VALIDATION_MAP") and os.environ.get("PYTEST_XDIST_WORKER", "gw0") == "gw0":
        mapping = {
            item.nodeid: sorted({rid for mark in item.iter_markers("requirement") for rid in mark.args})
            for item in items
        }
        target = os.environ["VALIDATION_MAP"]
        with open(f"{target}.tmp", "w") as handle:
            json.dump(mapping, handle, indent=1, sort_keys=True)
        os.replace(f"{target}.tmp", target)  # a reader never sees half a file


@pytest.fixture
def _require_postgres(db):
    if connection.vendor != "postgresql":
        pytest.fail(
            "This test needs PostgreSQL: set DATABASE_URL (make test and .ci/run do). "
            f"Current database: {connection.vendor}."
        )


@dataclass
class World:
    site_a: Site
    site_b: Site
    pi_a: User
    pi_b: User
    nurse_a: User
    nurse_b: User
    trial_manager: User
    data_manager: User
    monitor: User
    statistician: User
    sysadmin: User

    def site_staff(self, site_letter: str) -> dict[str, User]:
        if site_letter == "a":
            return {"pi": self.pi_a, "nurse": self.nurse_a}
        return {"pi": self.pi_b, "nurse": self.nurse_b}


@pytest.fixture
def world(db) -> World:
    site_a = SiteFactory(code="GB01", name="London", timezone="Europe/London")
    site_b = SiteFactory(code="NL01", name="Rotterdam", country="NL", timezone="Europe/Amsterdam")
    nurse_a = DelegationFactory(site=site_a, role=SiteRole.RESEARCH_NURSE).user
    nurse_b = DelegationFactory(site=site_b, role=SiteRole.RESEARCH_NURSE).user
    return World(
        site_a=site_a,
        site_b=site_b,
        pi_a=site_a.pi,
        pi_b=site_b.pi,
        nurse_a=nurse_a,
        nurse_b=nurse_b,
        trial_manager=UserFactory(trial_role=TrialRole.TRIAL_MANAGER, username="tm"),
        data_manager=UserFactory(trial_role=TrialRole.DATA_MANAGER, username="dm"),
        monitor=UserFactory(trial_role=TrialRole.MONITOR, username="monitor"),
        statistician=UserFactory(trial_role=TrialRole.STATISTICIAN, username="stats"),
        sysadmin=UserFactory(trial_role=TrialRole.SYSADMIN, username="sysadmin"),
    )


@pytest.fixture
def password() -> str:
    return TEST_PASSWORD


@pytest.fixture(scope="session")
def artifacts_dir() -> str:
    path = os.environ.get("TEST_ARTIFACTS", os.path.join(os.path.dirname(os.path.dirname(__file__)), "test-artifacts"))
    os.makedirs(path, exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def _empty_cache():
    """Cached figures (dashboards) must not leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Create and migrate as the owner (pytest-django), then run every test as the app role."""
    from django.test import TransactionTestCase

    from tests.support import db_roles

    if connection.vendor != "postgresql":
        yield
        return
    with django_db_blocker.unblock():
        db_roles.app_role_enable()
    original = TransactionTestCase._fixture_teardown

    def _fixture_teardown_as_owner(self):
        # Django empties the database after a transactional test with TRUNCATE, which the app role
        # may not do and the append-only triggers refuse: the owner does it with triggers silenced.
        with db_roles.as_owner(replica=True):
            original(self)

    TransactionTestCase._fixture_teardown = _fixture_teardown_as_owner
    yield
    TransactionTestCase._fixture_teardown = original
    with django_db_blocker.unblock():
        db_roles.app_role_disable()
