"""Thin adapters: saves of visits, queries, patients and re-consent tasks make the site's cached
panels stale (nelmas.site_cache; the nurse's home)."""

from nelmas.site_cache import site_data_changed


def patient_record_saved(sender, instance, **kwargs) -> None:
    """A visit, query or re-consent task: the site of its patient."""
    patient = instance.patient  # usually loaded by the service that saved the record
    site_data_changed(patient.site_id)


def patient_saved(sender, instance, **kwargs) -> None:
    site_data_changed(instance.site_id)
