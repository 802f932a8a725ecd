"""SAE escalations: near and passed deadlines e-mail the site's PI and staff and the trial manager,
once per stage and recipient."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Notification
from safety import services
from safety.escalations import report_stages, sae_escalations_sweep
from safety.models import SaeEscalation
from tests.safety.factories import rsi, serious_ae
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db
H = dt.timedelta(hours=1)


def test_stages_near_and_overdue(world):
    now = timezone.now()
    report = serious_ae(world.site_a, world.nurse_a, aware_at=now - 21 * H).sae_reports.get()  # due in 3 h
    assert {s for s, _ in report_stages(report, signed=False, now=now, near=4 * H)} == {
        "initial_near",
        "signature_near",
    }
    assert report_stages(report, signed=False, now=now, near=2 * H) == []
    late = {s for s, _ in report_stages(report, signed=True, now=now + 4 * H, near=4 * H)}
    assert late == {"initial_overdue"}  # signed: no signature stage
    report.submitted_at = now
    assert report_stages(report, signed=True, now=now + 4 * H, near=4 * H) == []


def test_escalation_mails_pi_staff_and_trial_manager_once_per_stage(world):
    report = serious_ae(world.site_a, world.nurse_a, aware_at=timezone.now() - 30 * H).sae_reports.get()
    serious_ae(world.site_b, world.nurse_b)  # due in 24 h: nothing yet
    assert sae_escalations_sweep() > 0
    recipients = set(
        SaeEscalation.objects.filter(stage="initial_overdue").values_list("recipient__username", flat=True)
    )
    assert recipients == {world.pi_a.username, world.nurse_a.username, world.trial_manager.username}
    assert not SaeEscalation.objects.exclude(report=report).exists()
    count = Notification.objects.filter(kind="sae_escalation").count()
    assert sae_escalations_sweep() == 0
    assert Notification.objects.filter(kind="sae_escalation").count() == count
    body = Notification.objects.filter(kind="sae_escalation", recipient=world.trial_manager).first().body
    assert report.patient.trial_number in body and "overdue by" in body


def test_susar_deadline_escalates(world, password):
    rsi()
    ae = serious_ae(world.site_a, world.nurse_a)
    report = services.sae_update(report=ae.sae_reports.get(), data={"narrative": "x"}, actor=world.nurse_a)
    report = services.sae_sign(
        report=report,
        actor=world.pi_a,
        password=password,
        assessment={
            "pi_causality_lutathera": "definite",
            "pi_causality_amino_acids": "unrelated",
            "pi_causality_procedures": "unrelated",
            "pi_expectedness": "unexpected",
        },
    )
    report = services.sponsor_review(
        report=report,
        actor=world.trial_manager,
        causality="definite",
        expectedness="unexpected",
        sponsor_aware_at=timezone.now() - dt.timedelta(days=16),
    )
    sae_escalations_sweep()
    assert SaeEscalation.objects.filter(report=report, stage="susar_overdue", recipient=world.trial_manager).exists()


pytestmark = requirement_marks(pytestmark, "URS-SAF-006")
