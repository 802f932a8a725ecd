"""A realistic synthetic trial built through the services, for demos, tests and benchmarks.

Every record goes through the same services as a nurse's clicks (audit trail, checks, signatures),
so a simulated trial exercises the real code paths. Deterministic for a given seed.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.utils import timezone

from accounts.management.commands.seed_demo import DEMO_PASSWORD
from accounts.models import User
from crf import services as crf
from crf.models import (
    ConcomitantMedication,
    Demographics,
    Histopathology,
    Laboratory,
    LiverResection,
    MedicalHistory,
    Recurrence,
)
from patients import services as patients
from patients.models import ConsentDocument
from randomisation.services import patient_randomise
from safety import services as safety
from safety.models import ReferenceSafetyInformation
from sites.models import Site

PRIMARY = ["pancreas", "jejunum_ileum", "duodenum", "pancreas", "colorectum"]


def _answers(resection: dt.date, primary: str, ki67: str, grade: str, margin: str) -> dict:
    return {
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
        "ki67_percent": ki67,
        "who_grade": grade,
        "resection_margin": margin,
    }


def simulate_trial(*, patients_n: int, seed: int, stdout=None) -> dict:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible from the seed
    today = timezone.localdate()
    tm, dm, monitor = (User.objects.get(username=u) for u in ("tm", "dm", "monitor"))
    document = ConsentDocument.objects.order_by("-valid_from").first()
    if document is None:
        document = patients.consent_document_add(
            actor=tm,
            data={
                "document_version": "4.0",
                "document_date": today - dt.timedelta(days=200),
                "valid_from": today - dt.timedelta(days=150),
                "valid_to": None,
                "ethics_approval_date": today - dt.timedelta(days=155),
            },
        )
    if not ReferenceSafetyInformation.objects.exists():
        safety.rsi_add(
            actor=tm,
            data={"version": "2024-06", "effective_date": today - dt.timedelta(days=500), "expected_terms": "Nausea"},
        )
    sites = list(Site.objects.filter(status=Site.Status.ACTIVE).order_by("code"))
    counts = {"screened": 0, "randomised": 0, "forms": 0, "aes": 0, "saes": 0, "queries": 0, "recurrences": 0}
    for number in range(patients_n):
        site = sites[number % len(sites)]
        nurse = User.objects.get(username=f"nurse.{site.code.lower()}")
        pi = site.pi
        resection = today - dt.timedelta(days=rng.randint(40, 75))
        sex = rng.choice("FM")
        born = rng.randint(1945, 1985)
        # A screen failure now and then, as in a real log.
        if rng.random() < 0.2:
            patients.screening_log_add(
                actor=nurse,
                site=site,
                data={
                    "screened_on": resection + dt.timedelta(days=29),
                    "age": today.year - rng.randint(1940, 1990),
                    "sex": rng.choice("FM"),
                    "eligible": False,
                    "not_randomised_reason": "ineligible",
                    "reason_detail": "Extrahepatic disease on PET",
                },
            )
            counts["screened"] += 1
        screening = patients.screening_log_add(
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
        counts["screened"] += 1
        patient = patients.patient_register(
            actor=nurse,
            site=site,
            screening=screening,
            data={
                "initials": rng.choice("ABCDEFGHJKLMNPRSTW") + rng.choice("ABCDEFGHJKLMNPRSTW"),
                "year_of_birth": born,
                "sex": sex,
                "liver_resection_date": resection,
                "primary_resection_date": resection,
            },
            consent={
                "document": document,
                "consented_at": timezone.now() - dt.timedelta(days=rng.randint(5, 8)),
                "samples_biobank": True,
                "tissue": True,
                "future_research": rng.random() < 0.9,
                "gp_letter": True,
            },
            confirm_possible_duplicate=True,
        )
        primary = rng.choice(PRIMARY)
        grade = rng.choice(["G1", "G2"])
        ki67 = "2.0" if grade == "G1" else f"{rng.randint(3, 18)}.0"
        margin = rng.choice(["R0", "R0", "R1"])
        patients.eligibility_save(actor=nurse, patient=patient, data=_answers(resection, primary, ki67, grade, margin))
        patients.eligibility_confirm(actor=pi, patient=patient, password=DEMO_PASSWORD)
        patient.refresh_from_db()
        allocation = patient_randomise(patient=patient, actor=nurse)
        counts["randomised"] += 1
        rand = patient.visits.get(code="RAND")
        crf.visit_mark_done(visit=rand, day=today, actor=nurse)
        height = Decimal(rng.randint(150, 195))
        forms = [
            (
                Demographics,
                {
                    "ethnicity": rng.choice(["white", "asian", "black", "mixed"]),
                    "height_cm": height,
                    "weight_kg": Decimal(rng.randint(50, 100)),
                },
            ),
            (
                MedicalHistory,
                {
                    "diagnosis_date": resection - dt.timedelta(days=rng.randint(60, 400)),
                    "functional_syndrome": rng.choice(["none", "none", "carcinoid"]),
                    "men1": False,
                    "carcinoid_heart_disease": False,
                    "prior_ssa": rng.random() < 0.6,
                },
            ),
            (
                Histopathology,
                {
                    "primary_site": primary,
                    "primary_resection_date": resection,
                    "timing": "synchronous",
                    "pt": rng.choice(["T2", "T3"]),
                    "pn": "N1",
                    "nodes_positive": rng.randint(1, 5),
                    "nodes_examined": rng.randint(6, 20),
                    "ki67_percent": Decimal(ki67),
                    "mitoses_per_2mm2": Decimal(1),
                    "who_grade": grade,
                },
            ),
            (
                LiverResection,
                {
                    "resection_date": resection,
                    "procedure": rng.choice(["major", "minor", "wedge"]),
                    "approach": rng.choice(["open", "laparoscopic"]),
                    "metastases_count": rng.randint(1, 6),
                    "largest_mm": rng.randint(8, 60),
                    "margin": margin,
                    "length_of_stay_days": rng.randint(3, 12),
                    "complications": False,
                },
            ),
            (
                Laboratory,
                {
                    "sample_date": today,
                    "haemoglobin": Decimal(rng.randint(110, 150)),
                    "anc": Decimal("3.2"),
                    "platelets": Decimal(rng.randint(160, 380)),
                    "creatinine": Decimal(rng.randint(55, 100)),
                    "creatinine_clearance": Decimal(rng.randint(60, 120)),
                    "bilirubin": Decimal(9),
                    "albumin": Decimal(41),
                },
            ),
        ]
        for model, data in forms:
            form = crf.crf_save(model=model, visit=rand, data=data, actor=nurse)
            counts["forms"] += 1
            if rng.random() < 0.85:
                form = crf.crf_mark_complete(form=form, actor=nurse)
                if rng.random() < 0.6:
                    form = crf.crf_verify(form=form, actor=monitor)
            if rng.random() < 0.1 and form.status != "in_progress":
                query = crf.query_raise(
                    form=form,
                    field=model.data_field_names()[0],
                    text="Please confirm against the source document.",
                    actor=dm,
                )
                counts["queries"] += 1
                if rng.random() < 0.6:
                    crf.query_answer(query=query, text="Confirmed against the clinic letter.", actor=nurse)
                    crf.query_close(query=query, actor=dm, text="Thank you")
        log = patient.visits.get(code="LOG")
        if rng.random() < 0.5:
            crf.crf_save(
                model=ConcomitantMedication,
                visit=log,
                actor=nurse,
                data={
                    "drug": "Paracetamol",
                    "indication": "Pain",
                    "dose": "1 g",
                    "start_date": resection,
                    "ongoing": True,
                },
            )
        if rng.random() < 0.1:
            crf.crf_save(
                model=Recurrence,
                visit=log,
                actor=nurse,
                data={
                    "recurrence_date": today - dt.timedelta(days=rng.randint(1, 20)),
                    "confirmation": "imaging",
                    "site_liver": True,
                    "site_nodes": False,
                },
            )
            counts["recurrences"] += 1
        if rng.random() < 0.3:
            serious = rng.random() < 0.2
            ae = safety.ae_save(
                patient=patient,
                actor=nurse,
                data={
                    "term": rng.choice(["Nausea", "Fatigue", "Abdominal pain", "Thrombocytopenia"]),
                    "grade": 3 if serious else rng.randint(1, 2),
                    "onset_date": today - dt.timedelta(days=rng.randint(0, 3)),
                    "ongoing": True,
                    "serious": serious,
                    "criterion_hospitalisation": serious,
                    "aware_at": timezone.now() - dt.timedelta(hours=rng.randint(1, 20)) if serious else None,
                    "causality_lutathera": "possible" if allocation.arm == "B" else "unrelated",
                    "causality_amino_acids": "unrelated",
                    "causality_procedures": "unrelated",
                    "action_taken": "none" if allocation.arm == "B" else "not_applicable",
                    "outcome": "recovering",
                },
            )
            counts["aes"] += 1
            if serious:
                report = ae.sae_reports.get()
                report = safety.sae_update(
                    report=report, actor=nurse, data={"narrative": "Admitted for assessment; managed conservatively."}
                )
                safety.sae_sign(
                    report=report,
                    actor=pi,
                    password=DEMO_PASSWORD,
                    assessment={
                        "pi_causality_lutathera": "possible" if allocation.arm == "B" else "unrelated",
                        "pi_causality_amino_acids": "unrelated",
                        "pi_causality_procedures": "unrelated",
                        "pi_expectedness": "expected",
                    },
                )
                counts["saes"] += 1
        if stdout is not None and (number + 1) % 10 == 0:
            stdout.write(f"  {number + 1} patients")
    return counts
