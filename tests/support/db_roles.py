"""The suite runs as the application's non-owner PostgreSQL role, as production does.

pytest-django creates and migrates the test database with the configured user (the owner, which
also installs the append-only triggers); then every connection switches to the application role,
which gets only the grants `core.append_only.app_role_grant` gives in production. The few
steps that need the owner (the flush between transactional tests, the backup drill's CREATE
DATABASE) borrow it explicitly through ``as_owner``.
"""

from __future__ import annotations

import contextlib
import os

from django.conf import settings
from django.db import connections

APP_ROLE = os.environ.get("TEST_DATABASE_APP_ROLE", "nelmas_app")
_owner: dict[str, tuple[str, str]] = {}


def _switch(user: str, password: str) -> None:
    for alias in connections:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        connection.close()
        for settings_dict in (connection.settings_dict, settings.DATABASES[alias]):
            settings_dict["USER"], settings_dict["PASSWORD"] = user, password


def app_role_enable() -> None:
    """Create the role when missing, grant it, and reconnect every alias as that role."""
    from core.append_only import app_role_grant

    for alias in connections:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        _owner[alias] = (connection.settings_dict["USER"], connection.settings_dict.get("PASSWORD", ""))
        with connection.cursor() as cursor:
            # Roles are cluster-wide and other test runs create the same one: tolerate the race.
            role = connection.ops.quote_name(APP_ROLE)
            cursor.execute(
                f"DO $$ BEGIN CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; "
                "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            )
        app_role_grant(role=APP_ROLE, using=alias)
    _switch(APP_ROLE, "")


def app_role_disable() -> None:
    for alias, (user, password) in _owner.items():
        connection = connections[alias]
        connection.close()
        for settings_dict in (connection.settings_dict, settings.DATABASES[alias]):
            settings_dict["USER"], settings_dict["PASSWORD"] = user, password


def owner_user() -> str:
    return _owner.get("default", (connections["default"].settings_dict["USER"], ""))[0]


@contextlib.contextmanager
def as_owner(*, replica: bool = False):
    """Connect as the owner for the duration; ``replica`` also silences triggers (the append-only
    ones included), which only a superuser may do: the flush between transactional tests."""
    if not _owner:
        yield
        return
    app_role_disable()
    try:
        if replica:
            for alias in _owner:
                with connections[alias].cursor() as cursor:
                    cursor.execute("SET session_replication_role = replica")
        yield
    finally:
        _switch(APP_ROLE, "")
