"""Concealment: nobody but the statistician sees the list, the next allocation or the block sizes."""

import re

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from randomisation import services
from randomisation.models import Allocation, Slot
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db

ROLES = ["nurse_a", "pi_a", "trial_manager", "data_manager", "monitor", "sysadmin"]


def _pages_for(world, patient):
    return [
        reverse("home"),
        reverse("randomisation:overview"),
        reverse("randomisation:config"),
        reverse("randomisation:list_download"),
        reverse("randomisation:list_generate"),
        reverse("randomisation:list_import"),
        reverse("patients:patient_detail", args=[patient.trial_number]),
        reverse("randomisation:randomise", args=[patient.trial_number]),
        reverse("randomisation:result", args=[patient.trial_number]),
        reverse("patients:patient_list"),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_no_page_reveals_an_unused_slot_to_anyone_but_the_statistician(
    client, world, blocks_design, make_patient, role
):
    randomised = make_patient(primary_site_group="pancreas", who_grade="G1", resection_margin="R0")
    services.patient_randomise(patient=randomised, actor=world.nurse_a)
    waiting = make_patient(primary_site_group="pancreas", who_grade="G1", resection_margin="R0")
    next_slot = Slot.objects.get(stratum="pancreas|G1|R0", sequence=2)
    client.force_login(getattr(world, role))
    for url in _pages_for(world, waiting) + _pages_for(world, randomised):
        response = client.get(url)
        assert response.status_code in (200, 302, 403, 404), url
        body = response.content.decode()
        assert "block_size" not in body and "nelmas-allocation-list" not in response.get("Content-Disposition", "")
        assert not re.search(r"\bsequence\b", body), url
        # The next slot's arm is never stated for the waiting patient.
        if waiting.trial_number in body:
            assert f"Arm {next_slot.arm}" not in body.replace(f"Arm {Allocation.objects.get().arm}", "") or (
                Allocation.objects.get().arm == next_slot.arm and body.count("Arm ") <= 1
            )
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.LIST_VIEWED).exists()


def test_the_statistician_downloads_the_list_and_every_download_is_audited(client, world, blocks_design):
    client.force_login(world.statistician)
    response = client.get(reverse("randomisation:list_download"))
    assert response.status_code == 200
    lines = response.content.decode().splitlines()
    assert lines[0] == "stratum,sequence,block,block_size,arm" and len(lines) == 1 + Slot.objects.count()
    client.get(reverse("randomisation:list_download"))
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.LIST_VIEWED, actor=world.statistician).count() == 2


def test_trial_manager_overview_shows_allocated_balance_only(client, world, blocks_design, make_patient):
    services.patient_randomise(patient=make_patient(), actor=world.nurse_a)
    client.force_login(world.trial_manager)
    body = client.get(reverse("randomisation:overview")).content.decode()
    assert "Allocated so far" in body and "Design (statistician only)" not in body
    assert "Download list" not in body
    assert client.get(reverse("randomisation:list_download")).status_code == 403


def test_an_imported_list_is_used_and_its_errors_are_shown(client, world):
    services.config_save(
        actor=world.statistician, data={"method": "imported", "factors": ["who_grade"], "block_sizes": [2]}
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(world.statistician)
    bad = "stratum,sequence,block,arm\nG1,1,1,A\nG1,2,1,A\nG2,1,1,A\nG2,2,1,B\n"
    response = client.post(
        reverse("randomisation:list_import"),
        {"file": SimpleUploadedFile("list.csv", bad.encode(), content_type="text/csv")},
    )
    assert "Line 2: block 1 of 'G1' is unbalanced (2 A, 0 B)." in response.context["form"].errors["file"][0]
    good = "stratum,sequence,block,arm\nG1,1,1,A\nG1,2,1,B\nG2,1,1,B\nG2,2,1,A\n"
    client.post(
        reverse("randomisation:list_import"),
        {"file": SimpleUploadedFile("list.csv", good.encode(), content_type="text/csv")},
    )
    assert Slot.objects.filter(allocation_list__source="imported").count() == 4


pytestmark = requirement_marks(pytestmark, "URS-RAND-005")
