"""Stored XSS: script and attribute payloads typed into every free-text field are shown as text on
every page that displays them. Run in Chromium with the CSP bypassed, so only escaping protects:
no dialog may open."""

import datetime as dt

import pytest
from django.db import models
from django.utils import timezone

from crf import services as crf
from crf.access import expected_forms
from crf.registry import FORMS
from safety import services as safety
from tests.crf.factories import scheduled_patient
from tests.safety.factories import AE
from tests.support.requirements import requirement_marks

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


def _text_fields(model):
    for name in model.data_field_names():
        field = model._meta.get_field(name)
        if isinstance(field, models.TextField | models.CharField) and not field.choices:
            yield name, field


def _payload(index: int, max_length: int | None) -> str:
    text = PAYLOADS[index % 2]
    return text if max_length is None or len(text) <= max_length else text[:max_length]


def _visit_for(patient, form_code):
    for code in ("RAND", "C1", "FU36", "LOG"):
        visit = patient.visits.filter(code=code).first()
        if visit is not None and form_code in expected_forms(visit):
            return visit
    raise AssertionError(f"no visit expects {form_code}")


def test_payloads_in_every_free_text_field_are_shown_as_text(page, live_server, world, login):
    patient = scheduled_patient(world.site_a, resection_days_ago=100, randomised_days_ago=60)
    urls, index = [], 0
    for code, model in FORMS.items():
        fields = dict(_text_fields(model))
        if not fields:
            continue
        visit = _visit_for(patient, code)
        data = {}
        for name, field in fields.items():
            data[name] = _payload(index, field.max_length)
            index += 1
        if code == "medical_history":
            data["functional_syndrome"] = "other"
        if code == "recurrence":
            data["next_treatment_start"] = None
        if code == "end_of_study":
            data.update({"reason": "death", "death_date": timezone.localdate(), "death_relation": "net"})
        if code == "pregnancy":
            pass
        form = crf.crf_save(model=model, visit=visit, data=data, actor=world.nurse_a)
        suffix = f"{form.pk}/" if model.REPEATING else ""
        urls.append(f"/crf/patients/{patient.trial_number}/{visit.code}/{code}/{suffix}")
    form = FORMS["demographics"].objects.create(patient=patient, visit=patient.visits.get(code="RAND"))
    query = crf.query_raise(form=form, field="height_cm", text=PAYLOADS[0], actor=world.data_manager)
    crf.query_answer(query=query, text=PAYLOADS[1], actor=world.nurse_a)
    crf.visit_mark_missed(visit=patient.visits.get(code="C1"), reason=PAYLOADS[1], actor=world.nurse_a)
    crf.visit_add_unscheduled(patient=patient, day=timezone.localdate(), reason=PAYLOADS[0], actor=world.nurse_a)
    ae = safety.ae_save(
        patient=patient,
        actor=world.nurse_a,
        data=AE
        | {"term": PAYLOADS[0], "onset_date": timezone.localdate() - dt.timedelta(days=1), "aware_at": timezone.now()},
    )
    report = ae.sae_reports.get()
    safety.sae_update(report=report, data={"narrative": PAYLOADS[1], "treatment": PAYLOADS[0]}, actor=world.nurse_a)
    urls += [
        f"/patients/{patient.trial_number}/",
        f"/crf/patients/{patient.trial_number}/RAND/",
        f"/crf/patients/{patient.trial_number}/C1/",
        f"/crf/patients/{patient.trial_number}/U1/",
        f"/crf/patients/{patient.trial_number}/casebook/",
        f"/crf/queries/{query.pk}/",
        "/crf/queries/",
        "/",
        f"/safety/patients/{patient.trial_number}/aes/",
        f"/safety/sae/{report.pk}/",
        "/safety/sae/",
        "/safety/listing/",
        f"/crf/patients/{patient.trial_number}/RAND/demographics/history/",
    ]
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append((page.url, dialog.message)), dialog.dismiss()))
    for user in (world.nurse_a, world.data_manager):
        login(page, user)
        shown_anywhere = set()
        for url in urls:
            response = page.goto(f"{live_server.url}{url}")
            assert response.status == 200, url
            text = page.inner_text("body")
            for payload in PAYLOADS:
                if payload in text:
                    shown_anywhere.add(payload)
            injected = page.evaluate("[...document.scripts].filter(s => s.textContent.includes('alert(1)')).length")
            assert injected == 0, url
            assert page.locator("img[src=x]").count() == 0, url
        assert shown_anywhere == set(PAYLOADS)
        page.context.clear_cookies()
    assert dialogs == []


pytestmark = requirement_marks(pytestmark, "URS-SEC-003")
