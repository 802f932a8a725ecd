"""Issue 21 (bug): "Save and mark complete" with a required field missing. One transaction: nothing
is saved, the page shows what the nurse typed with the message at the missing field, and her next
"Save" is not refused as a conflict with herself. Demographics needs ethnicity, height and weight
to be complete (crf/models/forms.py REQUIRED_FOR_COMPLETE)."""

import pytest

from crf.models import Demographics, FormStatus
from tests.crf.factories import scheduled_patient

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_refused_completion_keeps_her_typing_and_her_next_save_succeeds(
    page, live_server, world, login, shots, assert_accessible
):
    patient = scheduled_patient(world.site_a)
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, world.nurse_a)
    page.goto(f"{live_server.url}/crf/patients/{patient.trial_number}/RAND/demographics/")
    page.select_option("#id_ethnicity", "white")
    page.fill("#id_height_cm", "170")
    page.click("button[name=action][value=complete]")
    page.wait_for_load_state()
    main = page.inner_text("main")
    assert "Not saved and not marked complete" in main and "Still missing: weight." in main
    assert "Required to mark the form complete." in page.inner_text("#id_weight_kg >> xpath=..")
    assert page.input_value("#id_height_cm") == "170"  # what she typed is still on the page
    assert not Demographics.objects.exists()
    assert_accessible(page)
    shots(page, "refused-completion")
    page.click("button[name=action][value=save]")
    page.wait_for_load_state()
    assert "conflict" not in page.inner_text("main").lower()
    saved = Demographics.objects.get()
    assert saved.status == FormStatus.IN_PROGRESS and saved.height_cm == 170
    shots(page, "saved-after-refusal")
