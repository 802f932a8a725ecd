"""Source data verification (issue 26; Rave's and OpenClinica's SDV queues).

Rules, from crf.services.crf_save's contract and ICH E6(R3) 3.11.4 (monitoring verifies the data
against the source; a change after verification must be looked at again): a complete form waits
for SDV; a change to a verified form clears the verification, and the form then names who cleared
it and when, and marks each field whose value differs from the verified one with that value.
"""

from decimal import Decimal

import pytest
from django.urls import reverse

from crf import services
from crf.models import Demographics, FormStatus, MedicalHistory
from crf.sdv import verification_cleared
from tests.crf.factories import scheduled_patient
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db
QUEUE = reverse("reports:sdv_queue")
VALID = {"ethnicity": "white", "height_cm": Decimal("170"), "weight_kg": Decimal("70")}


def _complete_demographics(world, site, nurse):
    patient = scheduled_patient(site)
    form = services.crf_save(model=Demographics, visit=patient.visits.get(code="RAND"), data=VALID, actor=nurse)
    return services.crf_mark_complete(form=form, actor=nurse)


def _form_url(form):
    return reverse("crf:form", args=[form.patient.trial_number, "RAND", "demographics"])


def test_change_after_verification_names_who_cleared_it_and_highlights_the_changed_field(client, world):
    form = services.crf_verify(form=_complete_demographics(world, world.site_a, world.nurse_a), actor=world.monitor)
    services.crf_save(
        model=Demographics,
        visit=form.visit,
        data={"height_cm": Decimal("172")},
        actor=world.nurse_a,
        reason="Source says 172",
        expected_version=form.version,
        instance=form,
    )
    form.refresh_from_db()
    cleared = verification_cleared(form)
    assert cleared.cleared_by == world.nurse_a and cleared.verified_by == world.monitor
    assert cleared.changed == {"height_cm": Decimal("170.0")}  # weight and ethnicity were not changed

    client.force_login(world.monitor)
    page = client.get(_form_url(form)).content.decode()
    assert f"Verification cleared by {world.nurse_a.get_full_name()}" in page
    assert "Source says 172" in page
    # The changed field is highlighted with its verified value; the unchanged ones are not.
    assert 'class="sdv-changed" id="field-height_cm"' in page.replace("col-sm-5 sdv-changed", "sdv-changed")
    assert 'was: <span class="old-value">170.0 cm</span>' in page
    assert 'sdv-changed" id="field-weight_kg"' not in page
    # A verify control is an action, not a green status-like button.
    assert 'btn-success btn-sm">Source data verified' not in page


def test_a_form_never_verified_has_no_clearing(world):
    form = _complete_demographics(world, world.site_a, world.nurse_a)
    assert verification_cleared(form) is None


def test_queue_lists_complete_forms_and_those_changed_since_verified(client, world):
    waiting = _complete_demographics(world, world.site_a, world.nurse_a)
    other_site = _complete_demographics(world, world.site_b, world.nurse_b)
    verified = services.crf_verify(form=_complete_demographics(world, world.site_a, world.nurse_a), actor=world.monitor)
    changed = services.crf_save(
        model=Demographics,
        visit=verified.visit,
        data={"weight_kg": Decimal("71")},
        actor=world.nurse_a,
        reason="typo",
        expected_version=verified.version,
        instance=verified,
    )
    in_progress = scheduled_patient(world.site_a)
    services.crf_save(model=MedicalHistory, visit=in_progress.visits.get(code="RAND"), data={}, actor=world.nurse_a)
    client.force_login(world.monitor)

    def listed(**params):
        return {(r.form_code, r.form_id) for r in client.get(QUEUE, params).context["rows"]}

    assert listed() == {("demographics", waiting.pk), ("demographics", other_site.pk)}
    assert listed(site="GB01") == {("demographics", waiting.pk)}
    assert listed(form="medical_history") == set()
    assert listed(kind="changed") == {("demographics", changed.pk)}
    assert changed.status == FormStatus.IN_PROGRESS


@pytest.mark.parametrize("role", ["nurse_a", "pi_a", "statistician", "sysadmin"])
def test_queue_is_for_the_monitor_and_the_data_roles(client, world, role):
    client.force_login(getattr(world, role))
    assert client.get(QUEUE).status_code == 403


def test_verifying_from_the_queue_returns_to_it_and_a_foreign_next_is_ignored(client, world):
    first = _complete_demographics(world, world.site_a, world.nurse_a)
    second = _complete_demographics(world, world.site_a, world.nurse_a)
    client.force_login(world.monitor)
    action = reverse("crf:action", args=[first.patient.trial_number, "RAND", "demographics", "verify"])
    response = client.post(action, {"next": QUEUE + "?site=GB01"})
    assert response.status_code == 302 and response["Location"] == QUEUE + "?site=GB01"
    action = reverse("crf:action", args=[second.patient.trial_number, "RAND", "demographics", "verify"])
    response = client.post(action, {"next": "https://evil.example/"})
    assert response["Location"] == _form_url(second)
    assert client.get(QUEUE).context["rows"] == []


pytestmark = requirement_marks(pytestmark, "URS-ACC-001")
