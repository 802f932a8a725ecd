"""A realistic synthetic trial, for demos, tests and benchmarks. Deterministic for a given seed.

Patients are recruited over the last four years, so the oldest have finished their three years of
follow-up and the latest are still early. What carries a signature, an allocation or a change of a
patient's status goes through the services as a nurse's or investigator's clicks would: screening,
registration and consent, eligibility and its confirmation, randomisation (``patient_randomise``:
allocation concealment and the list), serious adverse events with their signed SAE reports, and
withdrawals. The visits and forms after that (baseline CRFs, Lutathera dosing, laboratory,
follow-up, questionnaires, biomarker samples, end of study, logs), the non-serious adverse events and
the data queries are written by ``demo.bulk_entry``: the same checks and audit steps, in bulk,
because through the services a 10,000-patient trial would take days to build.

Timeline: the sites open one after another from the start date (``start``, by default four years
ago) and each recruits at its own rate (SITE_RATES), so the recruitment curve, the
forecast, the overdue lists and the reminders look like a running trial. Patients are randomised in
the order of their simulated randomisation dates (the list integrity check reads allocations in
that order). The clinical dates (resection, consent, randomisation, visits, doses, events) lie on
that timeline; the records are entered at build time, which is what their audit trail says
(retrospective entry): the randomisation time the service stamps and the site's activation time are
then moved to the simulated dates by audited updates whose reason says so.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.audit import record_update
from crf import schedule
from crf.access import expected_forms
from crf.lifecycle import patient_status_refresh
from crf.models import (
    ConcomitantMedication,
    EndOfStudy,
    FormStatus,
    Imaging,
    ProtocolDeviation,
    Recurrence,
    Visit,
)
from crf.registry import FORMS
from crf.services import CheckFailed
from demo.management.commands.seed_demo import DEMO_PASSWORD
from demo.patients import eligibility_answers, screen_and_register
from patients import services as patients
from patients.eligibility import asked_only
from patients.models import ConsentDocument, Withdrawal
from patients.selectors import randomisation_timing
from randomisation.models import Allocation
from randomisation.services import patient_randomise
from safety import services as safety
from safety.models import AdverseEvent, ReferenceSafetyInformation
from sites.models import Site

from .bulk_entry import BulkEntry

PRIMARY = ["pancreas", "jejunum_ileum", "duodenum", "pancreas", "colon_rectum"]  # patients.codelists.PrimarySite
RECRUITMENT_DAYS = 4 * 365  # by default resections spread over the last four years
# Relative recruitment rates of the active sites, in site-code order (cycled): sites differ, as the
# Poisson–gamma forecast assumes.
SITE_RATES = (1.0, 0.6, 0.8, 0.45, 0.7)
SITE_STAGGER_DAYS = 75  # each site opens this long after the one before
SIMULATED_REASON = "Synthetic trial: placed on the simulated timeline"
DOSE_HELD = "Dose held: the pre-dose bloods met a dose-hold rule"
CHUNK = 250  # patients enrolled through the services, then written in bulk, per transaction
NOT_DONE = {
    "quality_of_life": (0.08, "Patient declined the questionnaire"),
    "biomarker_sample": (0.05, "Sample not taken: kit not available"),
    "laboratory": (0.01, "Bloods taken locally, results not available"),
}
AE_TERMS_BOTH = [
    ("Abdominal pain", "procedures"),
    ("Diarrhoea", ""),
    ("Fatigue", ""),
    ("Wound infection", "procedures"),
]
AE_TERMS_LUTATHERA = ["Nausea", "Fatigue", "Thrombocytopenia", "Lymphocyte count decreased", "Vomiting"]


class _Plan:
    """One patient's course, drawn from the seed before anything is written."""

    def __init__(self, rng: random.Random, today: dt.date, site_index: int, resection: dt.date) -> None:
        self.site_index = site_index
        self.resection = resection
        self.rand_day = min(today, self.resection + dt.timedelta(days=31 + rng.randint(0, 3)))
        self.sex = rng.choice("FM")
        self.born = rng.randint(1945, 1985)
        self.primary = rng.choice(PRIMARY)
        self.grade = rng.choice(["G1", "G2"])
        self.ki67 = "2.0" if self.grade == "G1" else f"{rng.randint(3, 18)}.0"
        self.margin = rng.choice(["R0", "R0", "R1"])
        self.screen_failure = rng.random() < 0.2

        def event(probability: float, low: int, high: int) -> dt.date | None:
            day = self.resection + dt.timedelta(days=rng.randint(low, high))
            return day if rng.random() < probability and day <= today else None

        # Three-year rates: recurrence about 30 %, death 7 %, withdrawal from follow-up 4 %.
        self.recurrence = event(0.3, 100, 1095)
        self.death = event(0.07, 150, 1095)
        if self.death and self.recurrence and self.recurrence >= self.death:
            self.recurrence = None
        self.withdrawal = None if self.death else event(0.04, 90, 1000)
        self.stop = self.death or self.withdrawal  # no visit after this day
        self.serious_ae = rng.random() < 0.08


def _site_openings(sites, start: dt.date, today: dt.date) -> list[dt.date]:
    """Each active site's simulated opening day: staggered from ``start``, all open 60 days before today."""
    latest = max(start, today - dt.timedelta(days=60))
    return [min(start + dt.timedelta(days=SITE_STAGGER_DAYS * k), latest) for k in range(len(sites))]


def _plans(rng, n: int, openings: list[dt.date], today: dt.date) -> list[_Plan]:
    """Randomisations as independent Poisson processes per site (rate SITE_RATES from its opening):
    a patient's site is drawn in proportion to rate × time open, the day uniformly in that time.
    Sorted by randomisation day, the order they are randomised in."""
    last = today - dt.timedelta(days=35)  # resected at least 40 days ago, randomised a month later
    spans = [max((last - opened).days, 1) for opened in openings]
    weights = [SITE_RATES[k % len(SITE_RATES)] * spans[k] for k in range(len(openings))]
    plans = []
    for _ in range(n):
        k = rng.choices(range(len(openings)), weights=weights)[0]
        randomised = openings[k] + dt.timedelta(days=rng.randint(0, spans[k]))
        # Resected a month before: the randomisation day (31–34 days later) is never before the opening.
        plans.append(_Plan(rng, today, k, randomised - dt.timedelta(days=31)))
    plans.sort(key=lambda plan: plan.rand_day)
    return plans


def simulate_trial(*, patients_n: int, seed: int, stdout=None, start: dt.date | None = None) -> dict:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible from the seed
    today = timezone.localdate()
    start = start or today - dt.timedelta(days=RECRUITMENT_DAYS)
    users = {u: User.objects.get(username=u) for u in ("tm", "dm", "monitor")}
    earliest = start - dt.timedelta(days=60)
    if not any(d.is_valid_on(earliest) for d in ConsentDocument.objects.all()):
        patients.consent_document_add(
            actor=users["tm"],
            data={
                "document_version": f"sim-{seed}",
                "document_date": earliest - dt.timedelta(days=60),
                "valid_from": earliest,
                "valid_to": min(
                    (d.valid_from - dt.timedelta(days=1) for d in ConsentDocument.objects.all()), default=None
                ),
                "ethics_approval_date": earliest - dt.timedelta(days=10),
            },
        )
    if not ReferenceSafetyInformation.objects.filter(effective_date__lte=earliest).exists():
        safety.rsi_add(
            actor=users["tm"],
            data={
                "version": f"sim-{seed}",
                "effective_date": earliest,
                "expected_terms": "Nausea\nVomiting\nFatigue\nThrombocytopenia\nLymphocyte count decreased",
            },
        )
    documents = list(ConsentDocument.objects.order_by("-valid_from"))
    sites = list(Site.objects.filter(status=Site.Status.ACTIVE).order_by("code").select_related("pi"))
    staff = {s.pk: User.objects.get(username=f"nurse.{s.code.lower()}") for s in sites}
    openings = _site_openings(sites, start, today)
    for site, opened in zip(sites, openings, strict=True):
        if site.activated_at is None or timezone.localtime(site.activated_at).date() > opened:
            record_update(
                obj=site,
                data={"activated_at": timezone.make_aware(dt.datetime.combine(opened, dt.time(9, 0)))},
                actor=users["tm"],
                reason=SIMULATED_REASON,
            )
    plans = _plans(rng, patients_n, openings, today)
    counts = dict.fromkeys(
        [
            "screened",
            "randomised",
            "visits_done",
            "visits_missed",
            "forms",
            "forms_not_done",
            "aes",
            "saes",
            "queries",
            "recurrences",
            "deaths",
            "withdrawals",
        ],
        0,
    )
    for first in range(0, patients_n, CHUNK):
        with transaction.atomic():
            enrolled = []
            for number in range(first, min(first + CHUNK, patients_n)):
                plan = plans[number]
                site = sites[plan.site_index]
                patient, arm = _enrol(rng, plan, site, staff[site.pk], documents, today, counts)
                enrolled.append((patient, arm, plan, staff[site.pk]))
                _serious_events(rng, plan, patient, arm, staff[site.pk], site.pi, counts)
            _follow_up(rng, enrolled, users, today, counts)
            # The bulk writer bypasses crf_save: each status is kept by the same service afterwards.
            for patient, _arm, _plan, nurse in enrolled:
                patient_status_refresh(patient=patient, actor=nurse, reason="the simulated forms")
        if stdout is not None:
            stdout.write(f"  {min(first + CHUNK, patients_n)} patients")
    return counts


def register_eligible(
    *, site, nurse, resection, born, sex, initials, document, consented_at, future_research, answers, today
):
    """Screening, registration with consent, eligibility saved and confirmed by the site's PI, all
    through the services: a patient ready to be randomised (the simulation and the benchmark)."""
    patient = screen_and_register(
        site=site,
        nurse=nurse,
        resection=resection,
        born=born,
        sex=sex,
        initials=initials,
        document=document,
        consented_at=consented_at,
        future_research=future_research,
        today=today,
        confirm_possible_duplicate=True,
    )
    patients.eligibility_save(actor=nurse, patient=patient, data=asked_only(answers, patient))
    patients.eligibility_confirm(actor=site.pi, patient=patient, password=DEMO_PASSWORD)
    return patient


def _enrol(rng, plan: _Plan, site, nurse, documents, today, counts):
    """Screening, registration with consent, eligibility, randomisation: through the services."""
    if plan.screen_failure:
        patients.screening_log_add(
            actor=nurse,
            site=site,
            data={
                "screened_on": plan.resection + dt.timedelta(days=29),
                "age": today.year - rng.randint(1940, 1990),
                "sex": rng.choice("FM"),
                "eligible": False,
                "not_randomised_reason": "ineligible",
                "reason_detail": "Extrahepatic disease on PET",
            },
        )
        counts["screened"] += 1
    counts["screened"] += 1
    consent_day = plan.resection + dt.timedelta(days=rng.randint(24, 28))
    consented_at = timezone.make_aware(dt.datetime.combine(consent_day, dt.time(10, rng.randint(0, 59))))
    patient = register_eligible(
        site=site,
        nurse=nurse,
        resection=plan.resection,
        born=plan.born,
        sex=plan.sex,
        initials=rng.choice("ABCDEFGHJKLMNPRSTW") + rng.choice("ABCDEFGHJKLMNPRSTW"),
        document=next(d for d in documents if d.is_valid_on(consent_day)),
        consented_at=consented_at,
        future_research=rng.random() < 0.9,
        answers=eligibility_answers(plan.resection, plan.primary, plan.ki67, plan.grade, plan.margin),
        today=today,
    )
    patient.refresh_from_db()
    # Every simulated patient is randomised on the day the simulation runs, however long ago the
    # resection: past the protocol's limit the allocation records that as its deviation reason.
    late = randomisation_timing(patient).deviation
    allocation = patient_randomise(
        patient=patient, actor=nurse, late_reason="Simulated: randomised on the day of the simulation" if late else ""
    )
    counts["randomised"] += 1
    return patient, allocation.arm


def _serious_events(rng, plan: _Plan, patient, arm, nurse, pi, counts) -> None:
    """A serious adverse event with its signed SAE report, and withdrawals: through the services."""
    last = plan.stop or timezone.localdate()
    if plan.serious_ae and last > plan.rand_day + dt.timedelta(days=20):
        onset = plan.rand_day + dt.timedelta(days=rng.randint(10, (last - plan.rand_day).days))
        lutathera = arm == "B" and rng.random() < 0.5
        ae = safety.ae_save(
            patient=patient,
            actor=nurse,
            data={
                "term": "Thrombocytopenia"
                if lutathera
                else rng.choice(["Small intestinal obstruction", "Cholangitis"]),
                "grade": 3,
                "onset_date": onset,
                "stop_date": min(onset + dt.timedelta(days=rng.randint(5, 20)), timezone.localdate()),
                "ongoing": False,
                "serious": True,
                "criterion_hospitalisation": True,
                "aware_at": timezone.make_aware(dt.datetime.combine(onset, dt.time(rng.randint(8, 17), 0))),
                "causality_lutathera": "probable" if lutathera else "unrelated",
                "causality_amino_acids": "unrelated",
                "causality_procedures": "unrelated" if lutathera else "possible",
                "action_taken": "none" if arm == "B" else "not_applicable",
                "outcome": "recovered",
            },
        )
        counts["aes"] += 1
        report = safety.sae_update(
            report=ae.sae_reports.get(),
            actor=nurse,
            data={"narrative": "Admitted for assessment; managed conservatively and discharged."},
        )
        safety.sae_sign(
            report=report,
            actor=pi,
            password=DEMO_PASSWORD,
            assessment={
                "pi_causality_lutathera": "probable" if lutathera else "unrelated",
                "pi_causality_amino_acids": "unrelated",
                "pi_causality_procedures": "unrelated" if lutathera else "possible",
                "pi_expectedness": "expected" if lutathera else "unexpected",
            },
        )
        counts["saes"] += 1
    if plan.withdrawal:
        patients.patient_withdraw(
            actor=nurse,
            patient=patient,
            data={
                "withdrawn_on": plan.withdrawal,
                "level": Withdrawal.Level.FOLLOW_UP,
                "initiated_by": Withdrawal.InitiatedBy.PATIENT,
                "reason": "No longer wishes to attend follow-up visits",
            },
        )
        counts["withdrawals"] += 1


# The bulk part: visits, forms, queries and non-serious AEs ------------------------------------


def _clip(day: dt.date | None, today: dt.date) -> dt.date | None:
    return day if day is not None and day <= today else None


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def _form_data(code: str, rng, day: dt.date, *, plan: _Plan, patient, visit_code: str, today: dt.date) -> dict:
    """What the nurse enters for a form at a visit done on ``day``."""
    if code == "laboratory":
        low_platelets = visit_code.startswith("SB") and rng.random() < 0.04  # a dose-hold finding, queried
        anc, lymphocytes = Decimal(f"{rng.uniform(2, 6):.2f}"), Decimal(f"{rng.uniform(1, 3):.2f}")
        # A patient's creatinine stays near their own level (a 40 % rise is a renal dose-hold), and
        # the white cells include the neutrophils and lymphocytes; the clearance is derived.
        own_creatinine = 55 + (patient.pk * 7) % 40
        return {
            "sample_date": day,
            "haemoglobin": Decimal(rng.randint(110, 150)),
            "wbc": anc + lymphocytes + Decimal(f"{rng.uniform(0.3, 1.5):.2f}"),
            "anc": anc,
            "lymphocytes": lymphocytes,
            "platelets": Decimal(rng.randint(60, 74) if low_platelets else rng.randint(160, 380)),
            "creatinine": Decimal(own_creatinine + rng.randint(0, 5)),
            "alt": Decimal(rng.randint(10, 40)),
            "bilirubin": Decimal(rng.randint(5, 18)),
            "bilirubin_uln": Decimal(21),
            "albumin": Decimal(rng.randint(36, 46)),
        }
    if code == "lutathera_dosing":
        full = rng.random() < 0.93
        return {
            "predose_bloods_date": day - dt.timedelta(days=rng.randint(0, 2)),
            "last_long_acting_ssa_date": day - dt.timedelta(days=rng.randint(30, 42)),
            "antiemetic": True,
            "amino_acid_product": "LysaKare",
            "amino_acid_start": dt.time(9, 0),
            "amino_acid_stop": dt.time(13, 0),
            "amino_acid_volume_ml": 1500,
            "dose_date": day,
            "dose_level": "full" if full else "reduced",
            "batch_id": f"LU{rng.randint(100000, 999999)}",
            "calibrated_activity_mbq": Decimal(7400 if full else 3700),
            "administered_activity_mbq": Decimal(rng.randint(7100, 7600) if full else rng.randint(3550, 3800)),
            "residual_activity_mbq": Decimal(rng.randint(40, 150)),
            "infusion_start": dt.time(9, 30),
            "infusion_stop": dt.time(10, rng.randint(0, 15)),
            "delay_days": 0,
            "infusion_reaction": rng.random() < 0.02,
            "discharge_date": _clip(day + dt.timedelta(days=rng.choice([0, 0, 1])), today),
        }
    if code == "follow_up":
        recurred = plan.recurrence is not None and plan.recurrence <= day
        result = "recurrence" if recurred else ("indeterminate" if rng.random() < 0.05 else "ned")
        return {
            "visit_date": day,
            "ecog": rng.choice([0, 0, 0, 1]) if not recurred else rng.choice([0, 1, 1, 2]),
            "symptoms": "" if rng.random() < 0.8 else rng.choice(["Mild fatigue", "Intermittent diarrhoea"]),
            "imaging_modality": "mri" if rng.random() < 0.85 else "ct",
            "imaging_date": max(patient.liver_resection_date, day - dt.timedelta(days=rng.randint(0, 7))),
            "imaging_result": result,
            "chromogranin_a": Decimal(rng.randint(150, 900) if recurred else rng.randint(20, 120)),
            "hiaa_5": Decimal(rng.randint(10, 40)) if rng.random() < 0.7 else None,
            "netest_sample_taken": rng.random() < 0.95,
            "qol_done": True,
        }
    if code == "quality_of_life":
        answered = range(1, 31) if rng.random() < 0.95 else rng.sample(range(1, 31), 24)
        data = {"completed_on": day}
        for n in answered:
            data[f"q{n}"] = rng.randint(4, 7) if n >= 29 else rng.choice([1, 1, 1, 2, 2, 3])
        return data
    if code == "biomarker_sample":
        shipped = _clip(day + dt.timedelta(days=rng.choice([0, 1])), today)
        urine = rng.random() < 0.8
        return {
            "blood_collected_at": _at(day, rng.randint(8, 12), rng.randint(0, 59)),
            "blood_tube_id": f"NT-{patient.pk}-{visit_code}-B",
            "urine_collected_at": _at(day, 8, rng.randint(0, 59)) if urine else None,
            "urine_tube_id": f"NT-{patient.pk}-{visit_code}-U" if urine else "",
            "shipped_on": shipped,
            "received_on": _clip(shipped + dt.timedelta(days=rng.randint(1, 3)), today) if shipped else None,
            "netest_score": rng.randint(5, 40) if shipped and rng.random() < 0.6 else None,
        }
    if code == "demographics":
        return {
            "ethnicity": rng.choice(["white", "white", "asian", "black", "mixed"]),
            "height_cm": Decimal(rng.randint(155, 190)),
            "weight_kg": Decimal(rng.randint(55, 95)),
        }
    if code == "medical_history":
        return {
            "diagnosis_date": plan.resection - dt.timedelta(days=rng.randint(60, 400)),
            "functional_syndrome": rng.choice(["none", "none", "carcinoid"]),
            "men1": False,
            "carcinoid_heart_disease": False,
            "prior_ssa": rng.random() < 0.6,
        }
    if code == "histopathology":
        return {
            "primary_site": plan.primary,
            "primary_resection_date": plan.resection,
            "timing": "synchronous",
            "pt": rng.choice(["T2", "T3"]),
            "pn": "N1",
            "nodes_positive": rng.randint(1, 5),
            "nodes_examined": rng.randint(6, 20),
            "ki67_percent": Decimal(plan.ki67),
            "mitoses_per_2mm2": Decimal(1),
            "who_grade": plan.grade,
        }
    if code == "liver_resection":
        return {
            "resection_date": plan.resection,
            "procedure": rng.choice(["major", "minor", "wedge"]),
            "approach": rng.choice(["open", "laparoscopic"]),
            "metastases_count": rng.randint(1, 6),
            "largest_mm": rng.randint(8, 60),
            "margin": plan.margin,
            "length_of_stay_days": rng.randint(3, 12),
            "complications": False,
        }
    raise ValueError(code)


class _Writer:
    """Turns each patient's plan into bulk entries with the steps the services would record."""

    def __init__(self, rng, users, today, counts) -> None:
        self.rng, self.users, self.today, self.counts = rng, users, today, counts
        self.bulk = BulkEntry()
        self.forms: list[tuple] = []  # (form, soft findings, nurse, site code)

    def form(self, model, *, patient, visit, data, nurse, site_code, recent: bool, visits=None) -> None:
        bulk = self.bulk
        form = bulk.crf_save_new(model, visit=visit, data=data, actor=nurse, visits=visits)
        automatic = [q for q, f in bulk.query_forms if f is form]
        draw = self.rng.random()
        if draw > (0.3 if recent else 0.05) and not form.missing_fields():
            bulk.crf_mark_complete(form, actor=nurse)
            if draw > (0.7 if recent else 0.35):
                bulk.crf_verify(form, actor=self.users["monitor"])
        self.forms.append((form, automatic, nurse, site_code))
        self.counts["forms"] += 1

    def visit_missed(self, visit, reason, nurse) -> None:
        self.bulk.visit_mark_missed(visit, reason=reason, actor=nurse)
        self.counts["visits_missed"] += 1

    def queries(self) -> None:
        """Answers to the automatic queries, and some queries raised by the data manager or a monitor."""
        rng, bulk = self.rng, self.bulk
        dm, monitor = self.users["dm"], self.users["monitor"]
        for form, automatic, nurse, site_code in self.forms:
            raised = [(query, None) for query in automatic]
            if form.status != FormStatus.IN_PROGRESS and rng.random() < 0.04:
                raiser = rng.choice([dm, monitor])
                text = "Please confirm against the source document."
                raised.append(
                    (bulk.query_raise(form, field=form.data_field_names()[0], text=text, actor=raiser), raiser)
                )
            for query, raiser in raised:
                self.counts["queries"] += 1
                if rng.random() < 0.7:
                    bulk.query_answer(query, text="Confirmed against the clinic letter.", actor=nurse)
                    if rng.random() < 0.8:
                        bulk.query_close(query, actor=raiser or dm, text="Thank you", site_code=site_code)
        self.forms = []


def _follow_up(rng, enrolled, users, today, counts) -> None:
    """The patients' visits and forms, entered as their nurses would, a step at a time across the
    batch: each step is flushed before the next, so a form's derived values and edit checks read
    the patient's earlier forms from the database as crf_save does (tests/demo/test_write_path.py)."""
    writer = _Writer(rng, users, today, counts)
    visits: dict[int, dict[str, Visit]] = {}
    for visit in Visit.objects.filter(patient__in=[p for p, *_ in enrolled]).order_by("patient_id", "sequence"):
        visits.setdefault(visit.patient_id, {})[visit.code] = visit
    _place_on_timeline(writer, enrolled, visits)
    writer.bulk.flush()
    # One random stream per patient, drawn from the seed in order: the steps interleave across patients.
    courses = [
        _course(writer, random.Random(rng.random()), patient, arm, plan, nurse, visits[patient.pk], today)  # noqa: S311
        for patient, arm, plan, nurse in enrolled
    ]
    while courses:
        alive = []
        for course in courses:
            try:
                next(course)
            except StopIteration:
                continue
            alive.append(course)
        writer.bulk.flush()
        courses = alive
    writer.queries()
    writer.bulk.flush()  # queries, visit changes and audit events


def _course(writer, rng, patient, arm, plan, nurse, by_code, today):
    """One patient's follow-up, a step (a form, or a visit's outcome) per ``next``."""
    site_code = patient.site.code
    for visit in by_code.values():
        visit.patient = patient
    doses: dict[str, dt.date] = {}
    dosing_stopped = False
    for definition in [d for d in schedule.schedule() if arm in d.arms]:
        visit = by_code[definition.code]
        if definition.code == "RAND":
            day = plan.rand_day
        else:
            if visit.window_start > today:
                continue  # upcoming
            half = max(1, definition.window_before // 2)
            day = visit.target_date + dt.timedelta(days=rng.randint(-half, half))
            if rng.random() < 0.03 and definition.code.startswith("FU"):
                day = visit.window_end + dt.timedelta(days=rng.randint(1, 10))  # out of window: a query
            if plan.stop and day >= plan.stop:
                if plan.death:
                    writer.visit_missed(visit, f"Patient died on {plan.death:%d %b %Y}", nurse)
                continue  # withdrawn: later visits are not applicable
            if day > today:
                continue  # due, not done yet
            if dosing_stopped and definition.arms == ("B",):
                writer.visit_missed(visit, "Lutathera not given", nurse)
                continue
            draw = rng.random()
            if draw > 0.97:
                writer.visit_missed(visit, "Patient did not attend", nurse)
                dosing_stopped = dosing_stopped or definition.code == "C1"
                continue
            if draw > 0.95:
                continue  # overdue: nobody recorded it yet
        recent = (today - day).days < 120
        yield from _visit_forms(writer, rng, visit, day, patient, plan, nurse, site_code, recent, doses, by_code)
    _end_of_study(writer, rng, plan, patient, by_code["FU36"], nurse, site_code, today)
    yield
    _logs(writer, rng, plan, patient, by_code, nurse, site_code, today)
    yield
    _adverse_events(writer, rng, plan, patient, arm, doses, nurse, today)
    yield


def _place_on_timeline(writer, enrolled, visits) -> None:
    """The allocation's time and the visit schedule moved from build time to the simulated
    randomisation day, as ``visits_schedule_create`` would have scheduled them on that day."""
    allocations = {a.patient_id: a for a in Allocation.objects.filter(patient__in=[p for p, *_ in enrolled])}
    per_day: dict[dt.date, int] = {}
    for patient, arm, plan, nurse in enrolled:
        # Minutes apart within a day, in the order randomised: the list is used in that order.
        nth = per_day[plan.rand_day] = per_day.get(plan.rand_day, -1) + 1
        at = _at(plan.rand_day, 9) + dt.timedelta(minutes=nth)
        writer.bulk.update(allocations[patient.pk], {"randomised_at": at}, user=nurse, reason=SIMULATED_REASON)
        by_code = visits[patient.pk]
        planned = schedule.planned_visits(
            arm=arm, liver_resection=patient.liver_resection_date, randomised_on=plan.rand_day
        )
        for definition, target, start, end in planned:
            visit = by_code[definition.code]
            writer.bulk.update(
                visit,
                {"target_date": target, "window_start": start, "window_end": end},
                user=nurse,
                reason=SIMULATED_REASON,
            )
        log = by_code.get(schedule.LOG.code)
        if log is not None:
            last = max(end for _d, _t, _s, end in planned)
            writer.bulk.update(
                log,
                {"target_date": plan.rand_day, "window_start": plan.rand_day, "window_end": last},
                user=nurse,
                reason=SIMULATED_REASON,
            )


def _visit_forms(writer, rng, visit, day, patient, plan, nurse, site_code, recent, doses, by_code):
    """The forms of a visit done on ``day``, one step each; the visit dated by hand if none dated it."""
    for code in expected_forms(visit):
        if code in ("end_of_study", "imaging"):
            continue  # written with the patient's outcome; the protocol PET with the imaging entries
        model = FORMS[code]
        chance, reason = NOT_DONE.get(code, (0, ""))
        if rng.random() < chance:
            writer.bulk.crf_mark_not_done(visit=visit, form_code=code, reason=reason, actor=nurse)
            writer.counts["forms_not_done"] += 1
            continue
        if recent and rng.random() < 0.05:
            continue  # not entered yet
        form_day = day - dt.timedelta(days=rng.randint(0, 2)) if code == "laboratory" and visit.code != "RAND" else day
        data = _form_data(code, rng, form_day, plan=plan, patient=patient, visit_code=visit.code, today=writer.today)
        if code == "lutathera_dosing":
            try:  # the pre-dose bloods may meet a dose-hold rule (a hard check): the dose is then held
                writer.form(
                    model,
                    patient=patient,
                    visit=visit,
                    data=data,
                    nurse=nurse,
                    site_code=site_code,
                    recent=recent,
                    visits=by_code,
                )
            except CheckFailed:
                writer.bulk.crf_mark_not_done(visit=visit, form_code=code, reason=DOSE_HELD, actor=nurse)
                writer.counts["forms_not_done"] += 1
            else:
                doses[visit.code] = data["dose_date"]
            yield
            continue
        writer.form(
            model,
            patient=patient,
            visit=visit,
            data=data,
            nurse=nurse,
            site_code=site_code,
            recent=recent,
            visits=by_code,
        )
        yield
    # A dated form dated the visit (crf_save); otherwise the nurse records its date by hand.
    if not visit.done_on:
        writer.bulk.visit_mark_done(visit, day=day, actor=nurse)
    writer.counts["visits_done"] += 1


def _end_of_study(writer, rng, plan, patient, fu36, nurse, site_code, today) -> None:
    recurrence_free = plan.recurrence is None
    if plan.death:
        data = {
            "end_date": plan.death,
            "reason": "death",
            "recurrence_free": recurrence_free,
            "death_date": plan.death,
            "death_cause": "Progressive neuroendocrine tumour" if not recurrence_free else "Myocardial infarction",
            "death_relation": "net" if not recurrence_free else "none",
        }
        writer.counts["deaths"] += 1
    elif plan.withdrawal:
        data = {"end_date": plan.withdrawal, "reason": "withdrawal", "recurrence_free": recurrence_free}
    elif fu36.done_on:
        data = {"end_date": fu36.done_on, "reason": "completed", "recurrence_free": recurrence_free}
    else:
        return
    writer.form(
        EndOfStudy,
        patient=patient,
        visit=fu36,
        data=data,
        nurse=nurse,
        site_code=site_code,
        recent=data["end_date"] > today - dt.timedelta(days=120),
    )


def _logs(writer, rng, plan, patient, by_code, nurse, site_code, today) -> None:
    log = by_code["LOG"]

    def entry(model, data, day, visit=None):
        writer.form(
            model,
            patient=patient,
            visit=visit or log,
            data=data,
            nurse=nurse,
            site_code=site_code,
            recent=(today - day).days < 120,
        )

    if rng.random() < 0.5:
        entry(
            ConcomitantMedication,
            {
                "drug": "Paracetamol",
                "indication": "Pain",
                "dose": "1 g",
                "route": "oral",
                "start_date": plan.resection,
                "ongoing": True,
            },
            plan.rand_day,
        )
    if rng.random() < 0.2:
        start = plan.resection - dt.timedelta(days=rng.randint(100, 900))
        entry(
            ConcomitantMedication,
            {
                "drug": "Metformin",
                "indication": "Type 2 diabetes",
                "dose": "500 mg",
                "route": "oral",
                "start_date": start,
                "ongoing": True,
            },
            plan.rand_day,
        )
    for code in ("FU12", "FU36"):  # protocol PET at months 12 and 36
        visit = by_code[code]
        if visit.done_on:
            recurred = plan.recurrence is not None and plan.recurrence <= visit.done_on
            entry(
                Imaging,
                {
                    "imaging_date": visit.done_on,
                    "modality": "pet",
                    "reason": "pet_protocol",
                    "result": "recurrence" if recurred else "ned",
                    "new_lesions": rng.randint(1, 4) if recurred else 0,
                },
                visit.done_on,
                visit,  # the imaging form expected at that visit
            )
    detected = next(
        (
            v.done_on
            for v in by_code.values()
            if v.code.startswith("FU") and v.done_on and plan.recurrence and v.done_on >= plan.recurrence
        ),
        None,
    )
    if detected:
        entry(
            Imaging,
            {
                "imaging_date": detected,
                "modality": "pet",
                "reason": "suspected",
                "result": "recurrence",
                "new_lesions": rng.randint(1, 5),
            },
            detected,
        )
        liver = rng.random() < 0.75
        treatment = _clip(detected + dt.timedelta(days=rng.randint(20, 60)), today)
        entry(
            Recurrence,
            {
                "recurrence_date": detected,
                "confirmation": rng.choice(["imaging", "imaging", "biopsy"]),
                "site_liver": liver,
                "site_nodes": not liver or rng.random() < 0.3,
                "site_peritoneum": False,
                "site_bone": rng.random() < 0.1,
                "site_lung": False,
                "next_treatment": "Lanreotide" if treatment else "",
                "next_treatment_start": treatment,
            },
            detected,
        )
        writer.counts["recurrences"] += 1
    for visit in by_code.values():
        if (
            visit.code not in ("RAND", "LOG")
            and visit.done_on
            and not (visit.window_start <= visit.done_on <= visit.window_end)
        ) and rng.random() < 0.5:
            entry(
                ProtocolDeviation,
                {
                    "deviation_date": visit.done_on,
                    "category": "visit",
                    "description": f"{visit.label} done outside its window.",
                    "serious_breach": False,
                },
                visit.done_on,
            )


def _adverse_events(writer, rng, plan, patient, arm, doses, nurse, today) -> None:
    """Non-serious AEs through follow-up: the AE edit checks, then bulk entry."""
    last = min(today, plan.stop or today)
    span = (last - plan.rand_day).days
    if span < 5:
        return
    count = rng.choice([0, 0, 1, 1, 2, 3] if arm == "B" else [0, 0, 0, 1, 1, 2])
    for _ in range(count):
        onset = plan.rand_day + dt.timedelta(days=rng.randint(1, span))
        cycle = 2 if "C2" in doses and doses["C2"] <= onset else 1 if "C1" in doses and doses["C1"] <= onset else None
        if arm == "B" and cycle and rng.random() < 0.7:
            term, related = rng.choice(AE_TERMS_LUTATHERA), "possible"
        else:
            term, _kind = rng.choice(AE_TERMS_BOTH)
            related, cycle = "unrelated", None
        ongoing = (today - onset).days < 30 and rng.random() < 0.5
        data = {
            "term": term,
            "grade": rng.choice([1, 1, 2]),
            "onset_date": onset,
            "stop_date": None if ongoing else min(today, onset + dt.timedelta(days=rng.randint(2, 40))),
            "ongoing": ongoing,
            "serious": False,
            "causality_lutathera": related if arm == "B" else "unrelated",
            "causality_amino_acids": "unrelated",
            "causality_procedures": "possible" if term == "Wound infection" else "unrelated",
            "action_taken": "none" if arm == "B" and cycle == 1 else "not_applicable",
            "outcome": "recovering" if ongoing else "recovered",
            "dosing_cycle": cycle,
        }
        errors = safety.ae_check(data, patient=patient)
        if errors:
            raise safety.AeInvalid(errors)
        ae = AdverseEvent(patient=patient, **data)
        ae.clean_fields(exclude=["patient"])
        writer.bulk.create(ae, user=nurse, reason="First entry")  # ae_save's first entry of a non-serious AE
        writer.counts["aes"] += 1
