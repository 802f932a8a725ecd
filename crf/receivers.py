"""Thin adapters: saves of the records cached figures are built from make them stale
(core.site_cache): visits, queries, patients and re-consent tasks (the nurse's home panels, per
site), and every CRF form, form recorded as not done and consent as well (the record status grid's
rows, per patient). Each save moves on both its site's and its patient's generation.

The bump runs after the writer's transaction commits, never inside it: a cache failure then cannot
roll back (or 500) the save, and no other request can recompute and cache the panels from
the data before the commit under the new generation. ``robust``: a failing bump is logged, the
other on-commit work (e-mails) still runs.
"""

from functools import partial

from django.db import transaction

from core.site_cache import patient_data_changed, site_data_changed


def _changed(site_id: int | None, patient_id: int | None) -> None:
    site_data_changed(site_id)
    patient_data_changed(patient_id)


def _bump_on_commit(site_id: int | None, patient_id: int | None) -> None:
    transaction.on_commit(partial(_changed, site_id, patient_id), robust=True)


def patient_record_saved(sender, instance, **kwargs) -> None:
    """A visit, query, re-consent task, CRF form or consent: its patient and the patient's site."""
    patient = instance.patient  # usually loaded by the service that saved the record
    _bump_on_commit(patient.site_id, patient.pk)


def visit_record_saved(sender, instance, **kwargs) -> None:
    """A form recorded as not done: its visit's patient and their site."""
    patient = instance.visit.patient
    _bump_on_commit(patient.site_id, patient.pk)


def patient_saved(sender, instance, **kwargs) -> None:
    _bump_on_commit(instance.site_id, instance.pk)
