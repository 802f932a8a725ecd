"""Demo patients: consent versions, a screening log with screen failures, patients in every state."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from accounts.models import User
from demo.management.commands.seed_demo import DEMO_PASSWORD
from patients import services
from patients.eligibility import asked_only
from patients.models import EligibilityAssessment, Patient, ScreeningEntry
from sites.models import Site


def eligibility_answers(resection: dt.date, primary: str, ki67: str | None, grade: str, margin: str) -> dict:
    """A demo patient's eligibility answers: every criterion met, the histopathology items only when a
    Ki-67 is known, with mitoses that agree with its grade (G1 < 2, G2 2–20, G3 > 20 per 2 mm²)."""
    answers = {
        "assessed_on": resection + dt.timedelta(days=31),
        "consent_before_procedures": True,
        "ecog": 0,
        "histology_confirmed": True,
        "primary_site": primary,
        "nec": False,
        "liver_mets_histology_confirmed": True,
        "primary_resected": True,
        "mri_date": resection - dt.timedelta(days=30),
        "mri_no_extrahepatic": True,
        "pet_date": resection - dt.timedelta(days=60),
        "pet_no_extrahepatic": True,
        "unresectable_disease": False,
        "pregnant_or_breastfeeding": False,
        "unwilling_contraception": False,
        "prior_prrt": False,
    }
    if ki67 is not None:
        answers |= {
            "ki67_percent": ki67,
            "mitoses_per_2mm2": {"G1": "1", "G2": "4", "G3": "25"}[grade],
            "who_grade": grade,
            "resection_margin": margin,
        }
    return answers

def screen_and_register(
    *,
    site,
    nurse,
    resection,
    born,
    sex,
    initials,
    document,
    consented_at,
    future_research,
    today,
    confirm_possible_duplicate=False,
) -> Patient:
    """An eligible screening entry a month after liver resection, then the patient registered from
    it with full consent, through the services (the demo data and the simulated trials)."""
    screening = services.screening_log_add(
        actor=nurse,
        site=site,
        data={
            "screened_on": resection + dt.timedelta(days=29),
            "age": today.year - born,
            "sex": sex,
            "eligible": True,
            "not_randomised_reason": "",
            "reason_detail": "",
        },
    )
    return services.patient_register(
        actor=nurse,
        site=site,
        screening=screening,
        data={
            "initials": initials,
            "year_of_birth": born,
            "sex": sex,
            "liver_resection_date": resection,
            "primary_resection_date": resection,
        },
        consent={
            "document": document,
            "consented_at": consented_at,
            "samples_biobank": True,
            "tissue": True,
            "future_research": future_research,
            "gp_letter": True,
        },
        confirm_possible_duplicate=confirm_possible_duplicate,
    )


# site, initials, year of birth, sex, days since liver resection, primary site, Ki-67, grade, margin, outcome
PATIENTS = [
    ("GB01", "AJ", 1961, "F", 70, "pancreas", "2.0", "G1", "R0", "eligible"),
    ("GB01", "BK", 1955, "M", 64, "jejunum_ileum", "8.5", "G2", "R1", "eligible"),
    ("GB01", "CL", 1970, "F", 58, "pancreas", "12.0", "G2", "R0", "eligible"),
    ("GB01", "DM", 1949, "M", 52, "jejunum_ileum", "25.0", "G3", "R0", "ineligible"),
    ("GB01", "EN", 1966, "F", 40, "pancreas", None, "", "", "consented"),
    ("NL01", "FO", 1958, "M", 75, "pancreas", "1.5", "G1", "R1", "eligible"),
    ("NL01", "GP", 1963, "F", 66, "duodenum", "4.0", "G2", "R0", "eligible"),
    ("NL01", "HQ", 1972, "M", 45, "jejunum_ileum", "3.0", "G2", "R0", "consented"),
]

SCREEN_FAILURES = [
    ("GB01", 81, "M", False, "ineligible", "Extrahepatic disease on PET"),
    ("GB01", 57, "F", True, "declined", "Did not want radiation treatment"),
    ("NL01", 62, "M", False, "ineligible", "R2 resection"),
    ("NL01", 49, "F", True, "clinician", ""),
]


def seed(*, stdout) -> None:
    if Patient.objects.exists():
        return
    tm = User.objects.get(username="tm")
    today = timezone.localdate()
    services.consent_document_add(
        actor=tm,
        data={
            "document_version": "3.0",
            "document_date": today - dt.timedelta(days=400),
            "valid_from": today - dt.timedelta(days=380),
            "valid_to": None,
            "ethics_approval_date": today - dt.timedelta(days=385),
        },
    )
    current = services.consent_document_add(
        actor=tm,
        data={
            "document_version": "4.0",
            "document_date": today - dt.timedelta(days=200),
            "valid_from": today - dt.timedelta(days=150),
            "valid_to": None,
            "ethics_approval_date": today - dt.timedelta(days=155),
        },
    )
    for code, age, sex, eligible, reason, detail in SCREEN_FAILURES:
        nurse = User.objects.get(username=f"nurse.{code.lower()}")
        services.screening_log_add(
            actor=nurse,
            site=Site.objects.get(code=code),
            data={
                "screened_on": today - dt.timedelta(days=30),
                "age": age,
                "sex": sex,
                "eligible": eligible,
                "not_randomised_reason": reason,
                "reason_detail": detail,
            },
        )
    for code, initials, born, sex, days, primary, ki67, grade, margin, outcome in PATIENTS:
        site = Site.objects.get(code=code)
        nurse = User.objects.get(username=f"nurse.{code.lower()}")
        pi = User.objects.get(username=f"pi.{code.lower()}")
        resection = today - dt.timedelta(days=days)
        patient = screen_and_register(
            site=site,
            nurse=nurse,
            resection=resection,
            born=born,
            sex=sex,
            initials=initials,
            document=current,
            consented_at=timezone.now() - dt.timedelta(days=max(days - 30, 1)),
            future_research=initials != "BK",
            today=today,
        )
        answers = eligibility_answers(resection, primary, ki67, grade, margin)
        services.eligibility_save(actor=nurse, patient=patient, data=asked_only(answers, patient))
        if outcome in ("eligible", "ineligible"):
            services.eligibility_confirm(actor=pi, patient=patient, password=DEMO_PASSWORD)
    stdout.write(
        f"  {Patient.objects.count()} demo patients, {ScreeningEntry.objects.count()} screening entries, "
        f"{EligibilityAssessment.objects.count()} eligibility assessments"
    )
