"""The quality-of-life form in the printed-paper layout (issue 26 item 4): item numbers, the item texts
only from a licence text file (protocol CRF 14: the texts are copyrighted, EORTC permission needed),
answers 1–4 (1–7 for items 29–30, EORTC QLQ-C30 v3.0) as radio buttons with none pre-selected, the
questionnaire's sections as headings, and an error at the item.
"""

import json
import re

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from crf import services
from crf.models import QualityOfLife
from tests.crf.factories import scheduled_patient

pytestmark = pytest.mark.django_db


def _url(patient):
    return f"/crf/patients/{patient.trial_number}/RAND/quality_of_life/"


def _page(client, world, patient):
    client.force_login(world.nurse_a)
    return client.get(_url(patient)).content.decode()


def test_each_item_is_a_row_of_radios_numbered_with_no_answer_chosen(client, world):
    patient = scheduled_patient(world.site_a, arm="A")
    page = _page(client, world, patient)
    assert page.count('role="radiogroup"') == 51
    assert " checked" not in page
    for n in (1, 28, 31, 51):  # answered 1–4, then "blank"
        values = re.findall(rf'name="q{n}" value="(\d?)"', page)
        assert values == ["1", "2", "3", "4", ""], n
    for n in (29, 30):
        assert re.findall(rf'name="q{n}" value="(\d?)"', page) == ["1", "2", "3", "4", "5", "6", "7", ""]
    # The accessible name of a radio is "Item 12: 3" (hidden prefix + the visible answer).
    assert re.search(r'<span class="visually-hidden">Item 12: </span><span class="qlq-value">3</span>', page)
    headings = re.findall(
        r'<fieldset class="mb-3 crf-section qlq-section">\s*<legend class="h5">([^<]+)</legend>', page
    )
    assert headings == [
        "QLQ-C30 items 1–5",
        "QLQ-C30 items 6–7, during the past week",
        "QLQ-C30 items 8–28, during the past week",
        "QLQ-C30 items 29–30, global health",
        "QLQ-GI.NET21 items 31–51",
    ]
    assert "qlq-text" not in page  # no licence text file installed: numbers only


def test_item_texts_and_headings_appear_only_from_the_licence_text_file(client, world, settings, tmp_path):
    licence = tmp_path / "eortc-texts.json"
    licence.write_text(
        json.dumps({"items": {"12": "LICENSED TEXT TWELVE"}, "headings": {"q31": "LICENSED MODULE HEADING"}}),
        encoding="utf-8",
    )
    settings.EORTC_ITEM_TEXT_FILE = str(licence)
    patient = scheduled_patient(world.site_a, arm="A")
    page = _page(client, world, patient)
    assert '<span class="qlq-text">LICENSED TEXT TWELVE</span>' in page
    assert "LICENSED MODULE HEADING" in page
    assert page.count('class="qlq-text"') == 1  # items without a licensed text keep their number only


def test_a_missing_licence_file_falls_back_to_item_numbers(client, world, settings, tmp_path):
    settings.EORTC_ITEM_TEXT_FILE = str(tmp_path / "not-installed.json")
    patient = scheduled_patient(world.site_a, arm="A")
    page = _page(client, world, patient)
    assert page.count('role="radiogroup"') == 51 and "qlq-text" not in page


def test_saved_answers_are_chosen_and_blank_clears_an_item_with_a_reason(client, world):
    patient = scheduled_patient(world.site_a, arm="A")
    visit = patient.visits.get(code="RAND")
    form = services.crf_save(
        model=QualityOfLife,
        visit=visit,
        data={"completed_on": timezone.localdate(), "q12": 3, "q30": 6},
        actor=world.nurse_a,
    )
    page = _page(client, world, patient)
    assert re.findall(r'name="q(\d+)" value="(\d?)" id="[^"]+" checked', page) == [("12", "3"), ("30", "6")]
    response = client.post(
        _url(patient),
        {
            "version": form.version,
            "completed_on": timezone.localdate().isoformat(),
            "q12": "",
            "q30": "6",
            "reason": "Item 12 blank on the paper form",
            "action": "save",
        },
    )
    assert response.status_code == 302
    form.refresh_from_db()
    assert form.q12 is None and form.q30 == 6
    assert form.history.first().history_change_reason == "Item 12 blank on the paper form"


def test_an_answer_out_of_range_shows_at_the_item_and_keeps_what_was_chosen(client, world):
    patient = scheduled_patient(world.site_a, arm="A")
    client.force_login(world.nurse_a)
    response = client.post(_url(patient), {"version": 0, "q3": "4", "q12": "9", "q30": "8", "action": "save"})
    page = response.content.decode()
    assert response.status_code == 200 and not QualityOfLife.objects.filter(patient=patient).exists()
    assert re.search(r'id="id_q12_error">Item 12 is answered 1–4.</div>', page)
    assert re.search(r'id="id_q30_error">Item 30 is answered 1–7.</div>', page)
    assert 'aria-describedby="id_q12_error"' in page
    assert re.findall(r'name="q(\d+)" value="(\d?)" id="[^"]+" checked', page) == [("3", "4")]


def test_the_api_applies_the_same_item_check_at_the_field(world):
    patient = scheduled_patient(world.site_a, arm="A")
    client = APIClient()
    client.force_authenticate(world.nurse_a)
    url = f"/api/v1/patients/{patient.trial_number}/forms/quality_of_life/"
    bad = client.put(url, {"visit": "RAND", "version": 0, "data": {"q12": 9, "q3": 4}}, format="json")
    assert bad.status_code == 400 and "Item 12 is answered 1–4." in str(bad.json()["fields"]["q12"])
    assert not QualityOfLife.objects.filter(patient=patient).exists()
    ok = client.put(url, {"visit": "RAND", "version": 0, "data": {"q12": 3, "q30": 7}}, format="json")
    assert ok.status_code == 200
    assert QualityOfLife.objects.values_list("q12", "q30").get(patient=patient) == (3, 7)
