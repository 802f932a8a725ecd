"""Demo CRF data: the randomised demo patients' forms in every lifecycle state, with queries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from accounts.models import User
from crf import services
from crf.models import (
    ConcomitantMedication,
    Demographics,
    Histopathology,
    Laboratory,
    LiverResection,
    LutatheraDosing,
    MedicalHistory,
    QualityOfLife,
)
from demo.randomisation import RANDOMISED
from patients.models import Patient


def _save(model, visit, data, nurse, *, complete=False):
    form = services.crf_save(model=model, visit=visit, data=data, actor=nurse)
    if complete:
        form = services.crf_mark_complete(form=form, actor=nurse)
    return form


def seed(*, stdout) -> None:
    # The curated patients only: the simulated history (demo.history) has its own forms.
    curated = Patient.objects.filter(trial_number__in=RANDOMISED)
    if Demographics.objects.filter(patient__in=curated).exists():
        return
    dm, monitor = User.objects.get(username="dm"), User.objects.get(username="monitor")
    today = timezone.localdate()
    for index, patient in enumerate(curated.filter(visits__code="RAND").distinct().order_by("trial_number")):
        nurse = User.objects.get(username=f"nurse.{patient.site.code.lower()}")
        rand = patient.visits.get(code="RAND")
        services.visit_mark_done(visit=rand, day=today, actor=nurse)
        resection = patient.liver_resection_date
        # Demographics: verified (first patient), complete, or in progress.
        demo = _save(
            Demographics,
            rand,
            {"ethnicity": "white", "height_cm": Decimal(168 + index * 6), "weight_kg": Decimal(64 + index * 9)},
            nurse,
            complete=index < 2,
        )
        if index == 0:
            services.crf_verify(form=demo, actor=monitor)
        history = _save(
            MedicalHistory,
            rand,
            {
                "diagnosis_date": resection - dt.timedelta(days=120),
                "functional_syndrome": "carcinoid" if index == 1 else "none",
                "men1": False,
                "carcinoid_heart_disease": False,
                "prior_ssa": index != 2,
            },
            nurse,
            complete=True,
        )
        if index == 0:
            services.crf_lock(form=history, actor=dm)
        # Histopathology: the first patient's entered grade disagrees with Ki-67 (a soft check query).
        _save(
            Histopathology,
            rand,
            {
                "primary_site": patient.eligibility.primary_site,  # a PrimarySite code, not the stratum group
                "primary_resection_date": patient.primary_resection_date,
                "timing": "synchronous",
                "pt": "T2",
                "pn": "N1",
                "nodes_positive": 3,
                "nodes_examined": 14,
                "ki67_percent": Decimal("4.0") if index == 0 else Decimal("2.0"),
                "mitoses_per_2mm2": Decimal("1"),
                "who_grade": "G1",
            },
            nurse,
        )
        resection_form = _save(
            LiverResection,
            rand,
            {
                "resection_date": resection,
                "procedure": "major" if index else "segmentectomy",
                "approach": "open",
                "metastases_count": 2 + index,
                "largest_mm": 18 + index * 7,
                "margin": patient.resection_margin or "R0",
                "length_of_stay_days": 6,
                "complications": index == 1,
                "clavien_dindo": "II" if index == 1 else "",
            },
            nurse,
            complete=True,
        )
        if index == 1:
            query = services.query_raise(
                form=resection_form,
                field="length_of_stay_days",
                text="Discharge summary gives 8 days: please check.",
                actor=dm,
            )
            services.query_answer(query=query, text="Checked: 6 nights, discharged on day 7.", actor=nurse)
        _save(
            Laboratory,
            rand,
            {"sample_date": today, "haemoglobin": Decimal("128"), "anc": Decimal("3.1"), "platelets": Decimal("210")},
            nurse,
        )
        if index == 0:
            _save(QualityOfLife, rand, {"completed_on": today} | {f"q{n}": 1 + (n % 3) for n in range(1, 29)}, nurse)
        log = patient.visits.get(code="LOG")
        _save(
            ConcomitantMedication,
            log,
            {"drug": "Lanreotide 120 mg", "indication": "NET", "start_date": resection - dt.timedelta(days=200)},
            nurse,
        )
        c1 = patient.visits.filter(code="C1").first()
        if c1 is not None and c1.window_start <= today:
            _save(
                Laboratory,
                c1,
                {
                    "sample_date": today,
                    "haemoglobin": Decimal("118"),
                    "anc": Decimal("2.4"),
                    "platelets": Decimal("140"),
                    "creatinine": Decimal("84"),
                    "bilirubin": Decimal("9"),
                    "albumin": Decimal("41"),
                },
                nurse,
                complete=True,
            )
            _save(LutatheraDosing, c1, {"dose_level": "full", "batch_id": f"LU-{today:%y%m}-0{index}"}, nurse)
    stdout.write(f"  CRFs for {Demographics.objects.count()} patients, {services.Query.objects.count()} queries")
