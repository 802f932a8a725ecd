import datetime as dt

import factory
from django.utils import timezone

from patients.models import Patient
from tests.sites.factories import SiteFactory


class PatientFactory(factory.django.DjangoModelFactory):
    """A registered (consented) patient. Use ``EligiblePatientFactory`` for one ready to randomise."""

    class Meta:
        model = Patient

    site = factory.SubFactory(SiteFactory)
    site_sequence = factory.Sequence(lambda n: n + 1)
    trial_number = factory.LazyAttribute(lambda p: f"NEL-{p.site.code}-{p.site_sequence:03d}")
    initials = "AB"
    year_of_birth = 1960
    sex = "F"
    liver_resection_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=35))
    primary_resection_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=35))
    status = Patient.Status.CONSENTED


class EligiblePatientFactory(PatientFactory):
    status = Patient.Status.ELIGIBLE
    primary_site_group = "pancreas"
    who_grade = "G1"
    resection_margin = "R0"
