"""One write path (issue 21, build point 3): the simulation's bulk loader leaves exactly what the
services leave for the same entries.

One scripted patient — registered and randomised to arm B through the services, placed on a
timeline, then baseline forms (one with a soft edit-check finding that raises an automatic
query), a form marked complete and one verified by the monitor, the laboratory panels before and
after the first Lutathera dose (derived values, the later visits rescheduled after the actual dose),
a form not done, a missed visit, a visit done by hand and follow-up visits that change the
patient's status, queries raised, answered and closed — is entered twice from the same database
state: once through ``crf.services`` and once through ``demo.bulk_entry.BulkEntry`` (both runs in a
savepoint rolled back afterwards, so trial numbers and the allocation slot are the same). Then every
row of every trial table and of its history is compared, with ids, primary keys and the build-time
stamps left out and each foreign key replaced by the identity of the row it points to.

The expected behaviour is the services' (conventions §2: writes go through services); the bulk
path is the thing under test, never a mock.
"""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import models, transaction
from django.utils import timezone

from accounts.models import AuditEvent, User
from core.audit import record_update
from crf import schedule
from crf import services as crf
from crf.models import (
    CrfForm,
    Demographics,
    FollowUp,
    Laboratory,
    LiverResection,
    LutatheraDosing,
    MedicalHistory,
    QualityOfLife,
    Query,
    Visit,
)
from demo.bulk_entry import BulkEntry
from demo.simulation import SIMULATED_REASON, eligibility_answers, register_eligible, simulate_trial
from patients.models import ConsentDocument, Patient
from patients.selectors import randomisation_timing
from randomisation.models import Allocation
from randomisation.services import patient_randomise
from sites.models import Site

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TODAY = timezone.localdate()
RESECTION = TODAY - dt.timedelta(days=250)
RAND_DAY = RESECTION + dt.timedelta(days=31)
# Stratum of the scripted patient: pancreas, G1, R0 at eligibility (the liver resection CRF says R1:
# "Eligibility recorded margin R0." is the soft finding, crf.validators.LiverResectionValidator).
ANSWERS = eligibility_answers(RESECTION, "pancreas", "2.0", "G1", "R0")
APPS = ("accounts", "sites", "patients", "randomisation", "crf", "safety")
# Outgoing e-mails: written only by the randomisation service (called in both runs, never by the
# bulk path); their text and dedupe key carry the build time and ids.
NOT_COMPARED = {"accounts.Notification"}


# The two ways in ---------------------------------------------------------------------------


class Services:
    """Each step as the nurse's, monitor's and data manager's clicks make it."""

    def __init__(self, patient):
        self.patient = patient

    def visit(self, code):
        return Visit.objects.select_related("patient__site").get(patient=self.patient, code=code)

    def place(self, obj, data, actor):
        record_update(obj=obj, data=data, actor=actor, reason=SIMULATED_REASON)

    def form(self, model, code, data, actor):
        form = crf.crf_save(model=model, visit=self.visit(code), data=data, actor=actor, expected_version=0)
        auto = list(Query.objects.filter(form_code=model.FORM_CODE, form_id=form.pk, automatic=True))
        return form, auto

    def complete(self, form, actor):
        return crf.crf_mark_complete(form=type(form).objects.get(pk=form.pk), actor=actor)

    def verify(self, form, actor):
        return crf.crf_verify(form=type(form).objects.get(pk=form.pk), actor=actor)

    def not_done(self, code, form_code, reason, actor):
        crf.crf_mark_not_done(visit=self.visit(code), form_code=form_code, reason=reason, actor=actor)

    def missed(self, code, reason, actor):
        crf.visit_mark_missed(visit=self.visit(code), reason=reason, actor=actor)

    def done(self, code, day, actor):
        crf.visit_mark_done(visit=self.visit(code), day=day, actor=actor)

    def raise_query(self, form, field, text, actor):
        return crf.query_raise(form=type(form).objects.get(pk=form.pk), field=field, text=text, actor=actor)

    def answer(self, query, text, actor):
        crf.query_answer(query=Query.objects.get(pk=query.pk), text=text, actor=actor)

    def close(self, query, text, actor):
        crf.query_close(query=Query.objects.get(pk=query.pk), actor=actor, text=text)

    def flush(self):
        pass


class Bulk:
    """The same steps through the simulation's bulk loader, flushed after each as the simulation does."""

    def __init__(self, patient):
        self.patient = patient
        self.bulk = BulkEntry()
        self.visits = {v.code: v for v in Visit.objects.filter(patient=patient)}
        for visit in self.visits.values():
            visit.patient = patient

    def visit(self, code):
        return self.visits[code]

    def place(self, obj, data, actor):
        self.bulk.update(obj, data, user=actor, reason=SIMULATED_REASON)

    def form(self, model, code, data, actor):
        form = self.bulk.crf_save_new(model, visit=self.visits[code], data=data, actor=actor, visits=self.visits)
        auto = [q for q, f in self.bulk.query_forms if f is form]
        return form, auto

    def complete(self, form, actor):
        return self.bulk.crf_mark_complete(form, actor=actor)

    def verify(self, form, actor):
        return self.bulk.crf_verify(form, actor=actor)

    def not_done(self, code, form_code, reason, actor):
        self.bulk.crf_mark_not_done(visit=self.visits[code], form_code=form_code, reason=reason, actor=actor)

    def missed(self, code, reason, actor):
        self.bulk.visit_mark_missed(self.visits[code], reason=reason, actor=actor)

    def done(self, code, day, actor):
        self.bulk.visit_mark_done(self.visits[code], day=day, actor=actor)

    def raise_query(self, form, field, text, actor):
        return self.bulk.query_raise(form, field=field, text=text, actor=actor)

    def answer(self, query, text, actor):
        self.bulk.query_answer(query, text=text, actor=actor)

    def close(self, query, text, actor):
        self.bulk.query_close(query, actor=actor, text=text, site_code=self.patient.site.code)

    def flush(self):
        self.bulk.flush()


# The scripted patient ----------------------------------------------------------------------


def _enrol(site, nurse) -> Patient:
    """Registration, eligibility confirmed by the PI, randomisation: the services in both runs."""
    patient = register_eligible(
        site=site,
        nurse=nurse,
        resection=RESECTION,
        born=1960,
        sex="F",
        initials="AB",
        document=ConsentDocument.objects.order_by("-valid_from").first(),
        consented_at=timezone.make_aware(dt.datetime.combine(RESECTION + dt.timedelta(days=25), dt.time(10))),
        future_research=True,
        answers=ANSWERS,
        today=TODAY,
    )
    patient.refresh_from_db()
    late = randomisation_timing(patient).deviation
    patient_randomise(patient=patient, actor=nurse, late_reason="Randomised late in the script" if late else "")
    return Patient.objects.select_related("site", "allocation").get(pk=patient.pk)


def _lab(day, **values):
    panel = {
        "sample_date": day,
        "haemoglobin": Decimal(128),
        "wbc": Decimal("6.10"),
        "anc": Decimal("3.90"),
        "lymphocytes": Decimal("1.60"),
        "platelets": Decimal(240),
        "creatinine": Decimal(70),
        "alt": Decimal(22),
        "bilirubin": Decimal(9),
        "bilirubin_uln": Decimal(21),
        "albumin": Decimal(41),
    }
    return panel | values


def _dose(day):
    return {
        "predose_bloods_date": day,
        "last_long_acting_ssa_date": day - dt.timedelta(days=35),
        "antiemetic": True,
        "amino_acid_product": "LysaKare",
        "amino_acid_start": dt.time(9, 0),
        "amino_acid_stop": dt.time(13, 0),
        "amino_acid_volume_ml": 1500,
        "dose_date": day,
        "dose_level": "full",
        "batch_id": "LU123456",
        "calibrated_activity_mbq": Decimal(7400),
        "administered_activity_mbq": Decimal(7300),
        "residual_activity_mbq": Decimal(100),
        "infusion_start": dt.time(9, 30),
        "infusion_stop": dt.time(10, 5),
        "delay_days": 0,
        "infusion_reaction": False,
        "discharge_date": day,
    }


def _script(way, patient, users) -> None:
    nurse, monitor, dm = users["nurse.gb01"], users["monitor"], users["dm"]
    # The timeline: randomised a month after the resection (as the simulation places its patients).
    allocation = Allocation.objects.get(patient=patient)
    way.place(allocation, {"randomised_at": timezone.make_aware(dt.datetime.combine(RAND_DAY, dt.time(9)))}, nurse)
    planned = schedule.planned_visits(arm="B", liver_resection=RESECTION, randomised_on=RAND_DAY)
    for definition, target, start, end in planned:
        way.place(way.visit(definition.code), {"target_date": target, "window_start": start, "window_end": end}, nurse)
    way.flush()

    demographics, _ = way.form(
        Demographics,
        "RAND",
        {"ethnicity": "white", "height_cm": Decimal(168), "weight_kg": Decimal(64)},
        nurse,
    )
    way.flush()
    way.complete(demographics, nurse)
    way.flush()
    demographics = way.verify(demographics, monitor)
    way.flush()
    way.form(
        MedicalHistory,
        "RAND",
        {"diagnosis_date": RESECTION - dt.timedelta(days=90), "functional_syndrome": "none", "men1": False},
        nurse,
    )  # left in progress
    way.flush()
    resection, auto = way.form(
        LiverResection,
        "RAND",
        {
            "resection_date": RESECTION,
            "procedure": "major",
            "approach": "open",
            "metastases_count": 3,
            "largest_mm": 25,
            "margin": "R1",
            "length_of_stay_days": 6,
            "complications": False,
        },
        nurse,
    )
    way.flush()
    assert [q.text for q in auto] == ["Eligibility recorded margin R0."]  # protocol CRF 6: margin at eligibility
    way.answer(auto[0], "R1 on the final histopathology report.", nurse)
    way.flush()
    way.close(auto[0], "Thank you", dm)
    way.flush()
    way.complete(resection, nurse)
    way.flush()
    way.form(Laboratory, "RAND", _lab(RAND_DAY), nurse)  # the visit is dated from the sample
    way.flush()
    way.not_done("RAND", "quality_of_life", "Patient declined the questionnaire", nurse)
    way.flush()

    c1 = way.visit("C1").target_date
    way.form(Laboratory, "C1", _lab(c1 - dt.timedelta(days=1), creatinine=Decimal(75)), nurse)
    way.flush()
    # The dose a week after C1's target: C2 and the safety bloods move after the actual dose.
    dose_1 = c1 + dt.timedelta(days=7)
    way.form(LutatheraDosing, "C1", _dose(dose_1), nurse)
    way.flush()
    c2 = dose_1 + dt.timedelta(days=56)
    assert way.visit("C2").target_date == c2
    way.form(Laboratory, "C2", _lab(c2 - dt.timedelta(days=1), creatinine=Decimal(110), platelets=Decimal(90)), nurse)
    way.flush()
    way.missed("SB1", "Patient did not attend", nurse)
    way.flush()

    fu03 = way.visit("FU03").target_date
    way.done("FU03", fu03, nurse)  # no dated form: the nurse records the visit date by hand
    way.flush()
    way.form(QualityOfLife, "FU03", {"completed_on": fu03, **{f"q{n}": 2 for n in range(1, 31)}}, nurse)
    way.flush()
    way.not_done("FU03", "biomarker_sample", "Sample not taken: kit not available", nurse)
    way.flush()
    fu06 = way.visit("FU06").target_date
    follow_up, _ = way.form(
        FollowUp,
        "FU06",
        {
            "visit_date": fu06,
            "ecog": 0,
            "symptoms": "",
            "imaging_modality": "mri",
            "imaging_date": fu06 - dt.timedelta(days=3),
            "imaging_result": "ned",
            "chromogranin_a": Decimal(60),
            "netest_sample_taken": True,
            "qol_done": True,
        },
        nurse,
    )
    way.flush()
    way.complete(follow_up, nurse)
    way.flush()
    query = way.raise_query(demographics, "weight_kg", "Please confirm against the source document.", monitor)
    way.flush()
    way.answer(query, "Confirmed against the clinic letter.", nurse)
    way.flush()
    way.close(query, "Thank you", monitor)
    way.flush()


# Comparing ---------------------------------------------------------------------------------


class Snapshot:
    """Every row of the trial tables and their history, ids and build-time stamps left out."""

    def __init__(self, since: dt.datetime):
        self.since = since
        self.models = [m for m in apps.get_models() if m._meta.app_label in APPS and m._meta.label not in NOT_COMPARED]
        self.live = {m: {o.pk: o for o in m._default_manager.all()} for m in self.models}

    def key(self, model, pk):
        """The identity of a row, independent of its id."""
        if pk is None:
            return None
        model = model._meta.concrete_model
        obj = self.live.get(model, {}).get(pk)
        if obj is None:
            return (model._meta.label, "missing", pk)
        if isinstance(obj, User):
            return ("user", obj.username)
        if isinstance(obj, Site):
            return ("site", obj.code)
        if isinstance(obj, Patient):
            return ("patient", obj.trial_number)
        if isinstance(obj, Visit):
            return ("visit", obj.patient.trial_number, obj.code)
        if isinstance(obj, CrfForm):
            return (obj.FORM_CODE, obj.patient.trial_number, obj.visit.code, self.values(obj, skip_status=True))
        if isinstance(obj, Query):
            return ("query", obj.patient.trial_number, obj.visit_code, obj.form_code, obj.field, obj.text)
        return (model._meta.label, self.values(obj))

    def values(self, obj, *, skip_status=False) -> tuple:
        out = []
        meta = obj._meta
        history_of = getattr(obj, "instance_type", None)
        for field in meta.concrete_fields:
            name, value = field.name, getattr(obj, field.attname)
            if field.primary_key or name in ("updated_at",):
                continue
            if skip_status and name in (
                "status",
                "version",
                "completed_at",
                "completed_by",
                "verified_at",
                "verified_by",
            ):
                continue
            if history_of is not None and name == "id":
                value = self.key(history_of, value)  # the live record this history row is of
            elif isinstance(field, models.ForeignKey):
                value = self.key(field.related_model, value)
            elif name == "form_id" and hasattr(obj, "form_code"):
                from crf.registry import FORMS

                value = self.key(FORMS[obj.form_code], value)
            elif name == "target_id" and isinstance(obj, AuditEvent) and obj.target_type:
                value = self.key(apps.get_model(obj.target_type), int(value)) if value else value
            elif name == "object_id" and getattr(obj, "content_type_id", None):
                value = self.key(ContentType.objects.get_for_id(obj.content_type_id).model_class(), int(value))
            elif isinstance(field, models.JSONField) and isinstance(value, dict):
                value = {k: _without_ids(k, v) for k, v in value.items()}
            elif "hash" in name or "digest" in name:
                value = _without_ids(name, value)
            elif isinstance(field, models.DateTimeField) and value is not None and value >= self.since:
                value = "stamped at entry"  # the build time: present in both, its instant not compared
            out.append((name, value))
        return tuple(out)

    def rows(self) -> dict[str, list]:
        return {
            m._meta.label: sorted((self.values(o) for o in self.live[m].values()), key=repr)
            for m in self.models
            if self.live[m]
        }


def _without_ids(name: str, value):
    """Ids, and the signatures' hashes over content that includes ids, differ between the two runs
    by construction (sequences are not rolled back); their presence is still compared."""
    if name == "id" or name.endswith("_id"):
        return "an id" if value is not None else None
    if "hash" in name or "digest" in name:
        return "a hash over ids" if value else value
    return value


def _run(way_class, users) -> dict:
    since = timezone.now()
    with transaction.atomic():
        patient = _enrol(Site.objects.get(code="GB01"), users["nurse.gb01"])
        assert patient.allocation.arm == "B"
        _script(way_class(patient), patient, users)
        rows = Snapshot(since).rows()
        transaction.set_rollback(True)
    return rows


@pytest.fixture
def trial(db):
    """The simulation's starting point (``seed_demo --base-only``), with the next allocation of the
    scripted patient's stratum on arm B: arm A slots are used by filler patients first."""
    call_command("seed_demo", "--base-only", stdout=io.StringIO())
    simulate_trial(patients_n=0, seed=1)  # its consent document, safety information and site openings
    users = {u.username: u for u in User.objects.all()}
    site = Site.objects.get(code="GB01")
    for _ in range(8):
        with transaction.atomic():
            arm = _enrol(site, users["nurse.gb01"]).allocation.arm
            transaction.set_rollback(True)
        if arm == "B":
            return users
        _enrol(site, users["nurse.gb01"])
    raise AssertionError("no arm B slot in the stratum's first blocks")


def test_bulk_path_leaves_the_rows_history_statuses_and_queries_the_services_leave(trial):
    through_services = _run(Services, trial)
    through_bulk = _run(Bulk, trial)

    # The script reached every state it is meant to check (in the services' run).
    forms = through_services["crf.Demographics"]
    assert dict(forms[0])["status"] == "verified"
    statuses = [dict(r)["status"] for r in through_services["patients.Patient"] if dict(r)["trial_number"]]
    assert "follow_up" in statuses
    visits = {dict(r)["code"]: dict(r) for r in through_services["crf.Visit"]}
    assert visits["SB1"]["missed_reason"] == "Patient did not attend"
    dose = dict(through_services["crf.LutatheraDosing"][0])["dose_date"]
    assert visits["C2"]["target_date"] == dose + dt.timedelta(days=56)  # 8 weeks after the actual dose
    labs = through_services["crf.Laboratory"]
    assert any(dict(r)["creatinine_clearance"] is not None for r in labs)
    kinds = {dict(r)["kind"] for r in through_services["accounts.AuditEvent"]}
    assert {AuditEvent.Kind.QUERY_RAISED, AuditEvent.Kind.QUERY_CLOSED} <= kinds

    assert through_bulk.keys() == through_services.keys()
    for table, rows in through_services.items():
        bulk_rows = through_bulk[table]
        missing = [r for r in rows if r not in bulk_rows]
        extra = [r for r in bulk_rows if r not in rows]
        assert not missing and not extra, (table, _differences(missing, extra))


def _differences(missing: list, extra: list) -> list:
    """Each row the services left and the bulk path did not, with the fields that differ from the
    closest row the bulk path left instead (for a readable failure)."""
    out = []
    for row in missing:
        have = dict(row)
        closest = min(extra, key=lambda r: sum(have.get(k) != v for k, v in r), default=())
        out.append({k: (v, dict(closest).get(k)) for k, v in row if dict(closest).get(k) != v} or row)
    return out + [("only in bulk", r) for r in extra[len(missing) :]]
