"""Thin adapters: saves of the records a site's cached figures are built from make them stale
(core.site_cache): visits, queries, patients and re-consent tasks (the nurse's home panels), and
every CRF form, form recorded as not done and consent (the record status grid's rows).

The bump runs after the writer's transaction commits, never inside it: a cache failure then cannot
roll back (or 500) the save, and no other request can recompute and cache the panels from
the data before the commit under the new generation. ``robust``: a failing bump is logged, the
other on-commit work (e-mails) still runs.
"""

from functools import partial

from django.db import transaction

from core.site_cache import site_data_changed


def _bump_on_commit(site_id: int | None) -> None:
    if site_id is not None:
        transaction.on_commit(partial(site_data_changed, site_id), robust=True)


def patient_record_saved(sender, instance, **kwargs) -> None:
    """A visit, query, re-consent task, CRF form or consent: the site of its patient."""
    patient = instance.patient  # usually loaded by the service that saved the record
    _bump_on_commit(patient.site_id)


def visit_record_saved(sender, instance, **kwargs) -> None:
    """A form recorded as not done: the site of its visit's patient."""
    _bump_on_commit(instance.visit.patient.site_id)


def patient_saved(sender, instance, **kwargs) -> None:
    _bump_on_commit(instance.site_id)
