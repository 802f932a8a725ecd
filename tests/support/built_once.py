"""Data that several tests only read, built once for them: Django's ``TestCase.setUpTestData`` for pytest.

A simulated trial and its export take seconds to build; building them again for every test that reads
them was most of the time of their modules. ``outer_transaction`` opens a transaction around the
build and rolls it back after the last test that uses it. Each test's own transaction (pytest-django's
``db``) nests inside it as a savepoint and is rolled back to it, so a test that writes still cannot
change what the next one reads, and the next module starts from an empty database.

Use it in a fixture of module or class scope, from tests that are not ``transaction=True`` (a
transactional test empties the tables and would not see, or would destroy, the outer transaction).
While the fixture lives, every test of its scope runs inside the outer transaction: put tests that
need an empty database outside that scope (another class or module).
"""

from __future__ import annotations

import contextlib

from django.db import connections, transaction


@contextlib.contextmanager
def outer_transaction(django_db_blocker):
    """Yield inside a transaction on every database, rolled back on exit; build the shared data in
    ``django_db_blocker.unblock()`` inside it (tests outside a ``db`` fixture stay blocked)."""
    with django_db_blocker.unblock():
        atomics = [(alias, transaction.atomic(using=alias)) for alias in connections]
        for _alias, atomic in atomics:
            atomic.__enter__()
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            for alias, atomic in reversed(atomics):
                transaction.set_rollback(True, using=alias)
                atomic.__exit__(None, None, None)
