import datetime as dt

import factory
from django.utils import timezone

from patients.models import ConsentDocument, EligibilityAssessment, Patient
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


class ConsentDocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentDocument

    document_version = factory.Sequence(lambda n: f"{n + 1}.0")
    document_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=200))
    valid_from = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=180))
    valid_to = None
    ethics_approval_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=190))


def eligible_answers(patient, **overrides) -> dict:
    """Answers that meet every criterion for ``patient`` (resected 35 days ago by the factories)."""
    surgery = patient.liver_resection_date
    answers = {
        "assessed_on": surgery + dt.timedelta(days=30),
        "consent_before_procedures": True,
        "ecog": 1,
        "histology_confirmed": True,
        "primary_site": "pancreas",
        "ki67_percent": "5.0",
        "mitoses_per_2mm2": "1.0",
        "who_grade": "G2",
        "nec": False,
        "resection_margin": "R1",
        "liver_mets_histology_confirmed": True,
        "primary_resected": True,
        "mri_date": surgery - dt.timedelta(days=35),
        "mri_no_extrahepatic": True,
        "pet_date": surgery - dt.timedelta(days=70),
        "pet_no_extrahepatic": True,
        "other_treatment_date": None,
        "unresectable_disease": False,
        "pregnant_or_breastfeeding": False,
        "unwilling_contraception": False,
        "prior_prrt": False,
        "liver_directed_therapy_date": None,
    }
    if patient.sex == "M":  # not asked of male patients (protocol CRF 13)
        del answers["pregnant_or_breastfeeding"]
    answers.update(overrides)
    return answers


class EligibilityAssessmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EligibilityAssessment
