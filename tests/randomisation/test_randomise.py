"""patient_randomise: refusals, allocation from the list in order, idempotence, freezing, e-mail."""

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse

from accounts.models import AuditEvent
from core.errors import DomainError, NotPermitted
from patients.models import Patient
from randomisation import services
from randomisation.models import Allocation, AllocationList, RandomisationConfig, Slot
from randomisation.selectors import balance_report, integrity_report
from randomisation.signals import patient_randomised
from tests.patients.factories import EligiblePatientFactory, PatientFactory
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def test_eligible_patient_gets_the_first_slot_of_their_stratum(
    world, blocks_design, make_patient, django_capture_on_commit_callbacks
):
    patient = make_patient(primary_site_group="pancreas", who_grade="G1", resection_margin="R0")
    received = []
    patient_randomised.connect(lambda **kw: received.append(kw["allocation"]), weak=False, dispatch_uid="t")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            allocation = services.patient_randomise(patient=patient, actor=world.nurse_a)
    finally:
        patient_randomised.disconnect(dispatch_uid="t")
    first = Slot.objects.get(stratum="pancreas|G1|R0", sequence=1)
    assert allocation.slot == first and allocation.arm == first.arm and allocation.stratum == "pancreas|G1|R0"
    patient.refresh_from_db()
    assert patient.status == Patient.Status.RANDOMISED
    assert received == [allocation]
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.RANDOMISED, target_id=str(patient.pk)).exists()
    recipients = {m.to[0] for m in mail.outbox}
    assert {world.nurse_a.email, world.pi_a.email, world.trial_manager.email} <= recipients
    assert world.nurse_b.email not in recipients
    assert all(patient.trial_number in m.subject and patient.initials not in m.body for m in mail.outbox)
    assert RandomisationConfig.objects.get(pk=blocks_design.pk).frozen_at is not None


def test_freezing_the_design_and_replacing_a_list_leave_history_rows(world, blocks_design, make_patient):
    """Issue 19: both were QuerySet.update() writes, invisible in the audit trail (21 CFR 11.10(e))."""
    from randomisation.models import AllocationList

    first_list = AllocationList.objects.get(config=blocks_design, is_active=True)
    services.list_generate(actor=world.statistician, seed="cd" * 32)
    deactivated = first_list.history.filter(is_active=False).get()
    assert deactivated.history_user == world.statistician and deactivated.history_change_reason.startswith("Replaced")
    assert AllocationList.objects.filter(config=blocks_design, is_active=True).count() == 1

    services.patient_randomise(patient=make_patient(), actor=world.nurse_a)
    services.patient_randomise(patient=make_patient(), actor=world.nurse_a)
    config = RandomisationConfig.objects.get(pk=blocks_design.pk)
    frozen = config.history.exclude(frozen_at=None)
    assert frozen.count() == 1  # frozen once, by the first randomisation, not again by the second
    assert frozen.get().history_user == world.nurse_a and frozen.get().frozen_at == config.frozen_at


def test_a_repeat_call_returns_the_same_allocation(world, blocks_design, make_patient):
    patient = make_patient()
    first = services.patient_randomise(patient=patient, actor=world.nurse_a)
    again = services.patient_randomise(patient=patient, actor=world.nurse_a)
    assert first.pk == again.pk and Allocation.objects.count() == 1


@pytest.mark.parametrize(
    ("patient_kwargs", "reason"),
    [
        ({"status": Patient.Status.INELIGIBLE}, "The patient is not eligible."),
        ({"status": Patient.Status.CONSENTED}, "Eligibility has not been confirmed"),
        ({"who_grade": ""}, "Stratification factor(s) not recorded: WHO grade."),
        ({"status": Patient.Status.WITHDRAWN}, "cannot be randomised"),
    ],
)
def test_refusals_name_the_reason_and_allocate_nothing(world, blocks_design, make_patient, patient_kwargs, reason):
    patient = make_patient(**patient_kwargs)
    with pytest.raises(DomainError) as exc:
        services.patient_randomise(patient=patient, actor=world.nurse_a)
    assert reason in exc.value.message
    assert not Allocation.objects.exists()
    patient.refresh_from_db()
    assert patient.status == patient_kwargs.get("status", Patient.Status.ELIGIBLE)


def test_a_patient_without_consent_is_refused(world, blocks_design):
    patient = EligiblePatientFactory(site=world.site_a)
    with pytest.raises(DomainError, match="No consent is recorded"):
        services.patient_randomise(patient=patient, actor=world.nurse_a)
    assert not Allocation.objects.exists()


def test_only_site_staff_of_the_patients_site_randomise(world, blocks_design, make_patient):
    patient = make_patient()
    for actor in (world.nurse_b, world.trial_manager, world.statistician):
        with pytest.raises(NotPermitted):
            services.patient_randomise(patient=patient, actor=actor)


def test_the_design_freezes_at_the_first_randomisation(world, blocks_design, make_patient):
    services.patient_randomise(patient=make_patient(), actor=world.nurse_a)
    with pytest.raises(DomainError, match="give the reason"):
        services.config_save(actor=world.statistician, data={"block_sizes": [4, 6]}, reason="")
    with pytest.raises(DomainError, match="new version"):
        services.list_generate(actor=world.statistician)
    new = services.config_save(
        actor=world.statistician, data={"block_sizes": [4, 6]}, reason="DMC asked for larger blocks"
    )
    assert new.number == 2 and new.block_sizes == [4, 6] and new.reason == "DMC asked for larger blocks"
    assert not RandomisationConfig.objects.get(number=1).is_active


def test_only_the_statistician_configures_and_generates(world):
    for actor in (world.trial_manager, world.nurse_a, world.data_manager):
        with pytest.raises(NotPermitted):
            services.config_save(actor=actor, data={"method": "blocks", "factors": ["who_grade"], "block_sizes": [2]})


def test_minimisation_allocates_and_records_the_minimising_arm(world, make_patient):
    services.config_save(
        actor=world.statistician,
        data={"method": "minimisation", "factors": list(services.DEFAULT_FACTORS), "block_sizes": []},
    )
    arms = [services.patient_randomise(patient=make_patient(who_grade="G1"), actor=world.nurse_a) for _ in range(12)]
    assert all(a.slot is None for a in arms)
    counts = balance_report()["overall"]
    assert abs(counts["A"] - counts["B"]) <= 4
    assert sum(1 for a in arms if a.minimising_arm) >= 6


def test_integrity_report_detects_a_tampered_allocation(world, blocks_design, make_patient):
    for _ in range(3):
        services.patient_randomise(patient=make_patient(primary_site_group="other"), actor=world.nurse_a)
    assert integrity_report().ok
    victim = Allocation.objects.first()
    Allocation.objects.filter(pk=victim.pk).update(arm="B" if victim.arm == "A" else "A")
    report = integrity_report()
    assert not report.ok and "differs from its slot's arm" in report.problems[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_200_concurrent_randomisations_never_share_a_slot_and_follow_the_list(world, blocks_design):
    from django.utils import timezone

    from patients.models import Consent
    from tests.patients.factories import ConsentDocumentFactory

    document = ConsentDocumentFactory()
    levels = [(p, g, m) for p in ("pancreas", "other") for g in ("G1", "G2") for m in ("R0", "R1")]
    patients = []
    for i in range(200):
        site = world.site_a if i % 2 else world.site_b
        p, g, m = levels[i % len(levels)]
        patient = EligiblePatientFactory(site=site, primary_site_group=p, who_grade=g, resection_margin=m)
        Consent.objects.create(patient=patient, document=document, consented_at=timezone.now(), taken_by=world.nurse_a)
        patients.append(patient)
    start = threading.Barrier(20)

    def randomise(patient):
        try:
            with contextlib.suppress(threading.BrokenBarrierError):
                start.wait(timeout=30)
            nurse = world.nurse_a if patient.site_id == world.site_a.pk else world.nurse_b
            nurse = type(nurse).objects.get(pk=nurse.pk)
            return services.patient_randomise(patient=patient, actor=nurse).pk
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(randomise, patients))
    assert len(results) == 200 and all(results)  # every request answered
    allocations = list(Allocation.objects.select_related("slot"))
    assert len(allocations) == 200
    assert len({a.patient_id for a in allocations}) == 200
    assert len({a.slot_id for a in allocations}) == 200
    report = integrity_report()
    assert report.ok, report.problems  # per stratum, slots 1..n used in randomisation order
    for stratum in {a.stratum for a in allocations}:
        used = sorted(a.slot.sequence for a in allocations if a.stratum == stratum)
        assert used == list(range(1, len(used) + 1))


def test_randomise_page_confirms_then_shows_the_arm(client, world, blocks_design, make_patient):
    patient = make_patient()
    client.force_login(world.nurse_a)
    url = reverse("randomisation:randomise", kwargs={"trial_number": patient.trial_number})
    confirm = client.get(url).content.decode()
    assert "Randomise now" in confirm and patient.who_grade in confirm
    response = client.post(url, follow=True)
    allocation = Allocation.objects.get(patient=patient)
    body = response.content.decode()
    assert f"Arm {allocation.arm}" in body and allocation.stratum in body
    assert client.get(url).status_code == 302  # already randomised: straight to the result


def test_randomise_page_shows_the_reasons_when_refused(client, world, blocks_design):
    patient = PatientFactory(site=world.site_a)
    client.force_login(world.nurse_a)
    body = client.post(reverse("randomisation:randomise", kwargs={"trial_number": patient.trial_number})).content
    assert b"This patient cannot be randomised" in body and b"Eligibility has not been confirmed" in body
    assert not Allocation.objects.exists()


pytestmark = requirement_marks(pytestmark, "URS-RAND-001", "URS-RAND-002")


@pytest.mark.parametrize("seed", ["ab", "ab" * 15, "zz" * 32])
def test_a_seed_under_128_bits_or_not_hex_is_refused_at_the_field(world, seed):
    """NIST SP 800-90A: an HMAC-SHA256 DRBG needs at least 128 bits of seed; a one-byte seed gives
    256 possible lists, each checkable against the first allocations."""
    services.config_save(
        actor=world.statistician, data={"method": "blocks", "factors": ["who_grade"], "block_sizes": [2, 4]}
    )
    with pytest.raises(DomainError) as refused:
        services.list_generate(actor=world.statistician, seed=seed)
    assert refused.value.field == "seed" and ("128 bits" in str(refused.value) or "hexadecimal" in str(refused.value))
    assert not AllocationList.objects.exists()
    # 32 hexadecimal digits are exactly 128 bits, and an empty field generates a 256-bit seed.
    assert services.list_generate(actor=world.statistician, seed="ab" * 16).seed == "ab" * 16
    assert len(services.list_generate(actor=world.statistician).seed) == 64


def test_the_seed_form_shows_the_refusal_at_the_field(client, world):
    services.config_save(
        actor=world.statistician, data={"method": "blocks", "factors": ["who_grade"], "block_sizes": [2, 4]}
    )
    client.force_login(world.statistician)
    page = client.post(reverse("randomisation:list_generate"), {"seed": "01"}).content.decode()
    assert "8 bits" in page and "at least 128 bits" in page
    assert not AllocationList.objects.exists()


@pytest.mark.parametrize("by_site", [False, True])
def test_site_stratification_changes_minimisations_allocations(world, make_patient, by_site):
    """Pocock & Simon (1975): the imbalance is summed over the patient's levels of every factor.
    With p = 1 the minimising arm is always taken. Hand-worked: patient 1 (GB01, G1) meets empty
    tables, a tie, and gets a random arm X. Patient 2 (GB01, G2): on WHO grade alone G2 is empty, a
    tie again (no minimising arm). With site as a factor GB01 already holds X, so arm X would give
    site range 2 + grade range 1 = 3 against 0 + 1 = 1 for the other arm: the other arm, always."""
    services.config_save(
        actor=world.statistician,
        data={
            "method": "minimisation",
            "factors": ["who_grade"],
            "block_sizes": [],
            "stratify_by_site": by_site,
            "minimisation_probability": 1,
        },
    )
    first = services.patient_randomise(patient=make_patient(who_grade="G1"), actor=world.nurse_a)
    second = services.patient_randomise(patient=make_patient(who_grade="G2"), actor=world.nurse_a)
    if by_site:
        assert second.minimising_arm == second.arm != first.arm
        assert second.stratum == "G2|GB01"
    else:
        assert second.minimising_arm == "" and second.stratum == "G2"
