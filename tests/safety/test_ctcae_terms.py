"""The AE term list is NCI's CTCAE v5.0 (27 Nov 2017) in full, with the grades it defines.

Vectors written by hand from NCI's CTCAE v5.0 table (term, MedDRA code, SOC, grade columns; "-"
is a grade not defined) and from its introduction: "Grade 5 (Death) is not appropriate for some
AEs and therefore is not an option". Not read back from the data file.
"""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create
from safety import services
from safety.terms import ctcae_match, ctcae_terms, grade_refusal, trial_common_terms
from tests.crf.factories import scheduled_patient
from tests.safety.factories import AE, serious_ae

# (term, MedDRA code, SOC, grades NCI defines)
NCI = [
    ("Platelet count decreased", "10035528", "Investigations", {1, 2, 3, 4}),
    ("Nausea", "10028813", "Gastrointestinal disorders", {1, 2, 3}),
    ("Febrile neutropenia", "10016288", "Blood and lymphatic system disorders", {3, 4, 5}),
    ("Anemia", "10002272", "Blood and lymphatic system disorders", {1, 2, 3, 4, 5}),
    ("Death NOS", "10011914", "General disorders and administration site conditions", {5}),
    ("Alanine aminotransferase increased", "10001551", "Investigations", {1, 2, 3, 4}),
    ("Small intestinal obstruction", "10041101", "Gastrointestinal disorders", {1, 2, 3, 4, 5}),
    ("Thromboembolic event", "10043565", "Vascular disorders", {1, 2, 3, 4, 5}),
    # v5.0 moved it ("Primary SOC change") out of General disorders.
    ("Infusion related reaction", "10051792", "Injury, poisoning and procedural complications", {1, 2, 3, 4, 5}),
    ("Sepsis", "10040047", "Infections and infestations", {3, 4, 5}),
    ("Alopecia", "10001760", "Skin and subcutaneous tissue disorders", {1, 2}),
]


def test_the_full_nci_list_is_loaded():
    terms = ctcae_terms()
    assert len(terms) == 837  # NCI: CTCAE v5.0 holds 837 AE terms
    assert len({t.soc for t in terms.values()}) == 26  # MedDRA's 26 system organ classes
    assert len({t.meddra_code for t in terms.values()}) == 837


@pytest.mark.parametrize(("term", "code", "soc", "grades"), NCI)
def test_spot_checks_from_the_nci_table(term, code, soc, grades):
    match = ctcae_match(term.upper())
    assert match is not None and match.term == term
    assert (match.meddra_code, match.soc, set(match.grades)) == (code, soc, grades)


def test_terms_ctcae_does_not_have_are_free_text():
    # CTCAE v5.0 grades a low platelet count as "Platelet count decreased" and a pulmonary embolism
    # as "Thromboembolic event"; carcinoid crisis has no CTCAE term.
    for typed in ("Thrombocytopenia", "Pulmonary embolism", "Carcinoid crisis", "Small bowel obstruction"):
        assert ctcae_match(typed) is None
        assert grade_refusal(typed, 5) == ""


def test_the_trial_list_is_a_subset_of_nci_and_keeps_the_common_terms():
    common = trial_common_terms()
    assert len(common) == 66
    names = {t.term for t in common}
    assert {"Nausea", "Platelet count decreased", "Small intestinal obstruction", "Biliary fistula"} <= names


@pytest.mark.django_db
def test_a_grade_ctcae_does_not_define_is_refused_for_its_term(world):
    patient = scheduled_patient(world.site_a)
    patient.consents.update(consented_at=timezone.now() - dt.timedelta(days=60))
    onset = timezone.localdate() - dt.timedelta(days=1)
    fatal_nausea = AE | {
        "term": "Nausea",
        "grade": 5,
        "onset_date": onset,
        "aware_at": timezone.now(),
        "outcome": "fatal",
        "criterion_death": True,
        "criterion_hospitalisation": False,
    }
    with pytest.raises(services.AeInvalid) as refused:
        services.ae_save(patient=patient, data=fatal_nausea, actor=world.nurse_a)
    assert ("grade", "CTCAE v5.0 defines no grade 5 for Nausea (grades 1, 2, 3).") in refused.value.errors
    # Febrile neutropenia starts at grade 3 in CTCAE v5.0.
    with pytest.raises(services.AeInvalid):
        serious_ae(world.site_a, world.nurse_a, term="Febrile neutropenia", grade=2)
    assert serious_ae(world.site_a, world.nurse_a, term="nausea", grade=3).term == "Nausea"
    # Free text is not CTCAE: any grade 1-5 stands, and the term waits for coding.
    typed = serious_ae(world.site_a, world.nurse_a, term="Carcinoid crisis", grade=4)
    assert typed.needs_coding and typed.grade == 4


@pytest.mark.django_db
def test_a_grade_change_alone_is_checked_against_the_term_in_the_api(world):
    ae = serious_ae(world.site_a, world.nurse_a, term="Nausea", grade=3)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=world.nurse_a, name='t')[1]}")
    url = f"/api/v1/patients/{ae.patient.trial_number}/adverse-events/{ae.pk}/"
    response = client.patch(url, {"grade": 4, "expected_version": ae.version, "reason": "Worse"}, format="json")
    assert response.status_code == 400 and "defines no grade 4 for Nausea" in response.content.decode()
    ae.refresh_from_db()
    assert ae.grade == 3


@pytest.mark.django_db
def test_the_picker_offers_the_trial_terms_first_then_all_of_nci(client, world):
    patient = scheduled_patient(world.site_a)
    client.force_login(world.nurse_a)
    page = client.get(reverse("safety:ae_new", args=[patient.trial_number])).content.decode()
    common = page.index('<option value="Nausea" label="Common in this trial · Gastrointestinal disorders">')
    other = page.index('<option value="Sinus bradycardia" label="Cardiac disorders">')  # not in the trial list
    assert common < other
    assert page.count("<option value=") >= 837
