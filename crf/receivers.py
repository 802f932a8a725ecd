"""Thin adapters: saves of visits, queries and patients make the site's cached figures stale
(nelmas.site_cache; the nurse's home totals)."""

from nelmas.site_cache import site_data_changed


def visit_or_query_saved(sender, instance, **kwargs) -> None:
    patient = instance.patient  # usually loaded by the service that saved the record
    site_data_changed(patient.site_id)


def patient_saved(sender, instance, **kwargs) -> None:
    site_data_changed(instance.site_id)
