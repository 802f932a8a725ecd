"""Questions not asked of male patients (protocol CRF 13: "the pregnancy questions are not asked of
male patients"; exclusion criterion "pregnancy or breastfeeding"; Analysis datasets: "not
applicable (sex)" is a kind of missing value of its own).

Contraception is asked of both sexes (men use it for 4 months after the last dose, CRF 13), so
"unwilling to use contraception" stays on a man's form and is needed for his eligibility.
"""

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create
from core.errors import DomainError
from patients import services
from patients.eligibility import answer_rows, evaluate
from patients.forms import EligibilityForm
from patients.models import Consent, EligibilityAssessment
from reports.dataset import collect
from tests.patients.factories import PatientFactory, eligible_answers

pytestmark = pytest.mark.django_db


@pytest.fixture
def consented(world, consent_doc):
    def make(sex):
        patient = PatientFactory(site=world.site_a, sex=sex)
        Consent.objects.create(
            patient=patient, document=consent_doc, consented_at=patient.created_at, taken_by=world.nurse_a
        )
        return patient

    return make


def test_the_form_asks_a_woman_and_not_a_man(consented):
    assert "pregnant_or_breastfeeding" in EligibilityForm(patient=consented("F")).fields
    man = EligibilityForm(patient=consented("M"))
    assert "pregnant_or_breastfeeding" not in man.fields
    assert "unwilling_contraception" in man.fields  # contraception is asked of men too
    assert all(bf.name != "pregnant_or_breastfeeding" for _t, fields in man.sections() for bf in fields)


def test_the_page_of_a_man_has_no_pregnancy_question_and_says_why(client, world, consented):
    man = consented("M")
    client.force_login(world.nurse_a)
    page = client.get(reverse("patients:eligibility_edit", args=[man.trial_number])).content.decode()
    assert 'name="pregnant_or_breastfeeding"' not in page
    assert "Not asked of a male patient" in page and 'name="unwilling_contraception"' in page
    woman = consented("F")
    page = client.get(reverse("patients:eligibility_edit", args=[woman.trial_number])).content.decode()
    assert 'name="pregnant_or_breastfeeding"' in page


@pytest.mark.parametrize("value", [True, False])
def test_the_service_refuses_an_answer_for_a_man_at_the_field(world, consented, value):
    man = consented("M")
    with pytest.raises(DomainError) as refused:
        services.eligibility_save(
            actor=world.nurse_a, patient=man, data=eligible_answers(man) | {"pregnant_or_breastfeeding": value}
        )
    assert refused.value.field == "pregnant_or_breastfeeding"
    assert "not asked of male patients" in str(refused.value)
    assert not EligibilityAssessment.objects.filter(patient=man).exists()


def test_a_man_is_eligible_without_the_question_and_a_woman_needs_it(world, consented):
    man = consented("M")
    services.eligibility_save(actor=world.nurse_a, patient=man, data=eligible_answers(man))
    assessment = EligibilityAssessment.objects.get(patient=man)
    result = evaluate(assessment, man)
    assert result.eligible, (result.missing, result.failed)
    rows = {row.label: row.answer for row in answer_rows(assessment, man)}
    assert rows["Pregnant or breastfeeding"] == "Not applicable (male patient: not asked)"

    woman = consented("F")
    answers = eligible_answers(woman)
    del answers["pregnant_or_breastfeeding"]
    services.eligibility_save(actor=world.nurse_a, patient=woman, data=answers)
    assessment = EligibilityAssessment.objects.get(patient=woman)
    assert [f.code for f in evaluate(assessment, woman).missing] == ["pregnancy"]
    services.eligibility_save(
        actor=world.nurse_a, patient=woman, data={"pregnant_or_breastfeeding": True}, reason="Answered"
    )
    assert "pregnancy" in [f.code for f in evaluate(EligibilityAssessment.objects.get(patient=woman), woman).failed]


def test_the_api_refuses_the_answer_for_a_man_with_a_field_error(world, consented):
    man = consented("M")
    _token, key = api_token_create(user=world.nurse_a, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = f"/api/v1/patients/{man.trial_number}/eligibility/"
    answers = {"assessed_on": timezone.localdate().isoformat(), "pregnant_or_breastfeeding": False}
    response = client.post(url, {"answers": answers, "version": 0}, format="json")
    assert response.status_code == 400, response.json()
    assert "pregnant_or_breastfeeding" in response.json()["fields"]


def test_export_shows_not_applicable_for_a_man_and_missing_for_an_unanswered_woman(world, consented):
    man, woman, unanswered = consented("M"), consented("F"), consented("F")
    services.eligibility_save(actor=world.nurse_a, patient=man, data=eligible_answers(man))
    services.eligibility_save(actor=world.nurse_a, patient=woman, data=eligible_answers(woman))
    answers = eligible_answers(unanswered)
    del answers["pregnant_or_breastfeeding"]
    services.eligibility_save(actor=world.nurse_a, patient=unanswered, data=answers)

    table = next(t for t in collect(lock=None) if t.name == "eligibility")
    names = [c.name for c in table.columns]
    column = table.columns[names.index("pregnant_or_breastfeeding")]
    assert ("NA", "Not applicable (male patient: not asked)") in column.codes
    shown = {row[0]: row[names.index("pregnant_or_breastfeeding")] for row in table.iter_rows()}
    assert shown == {man.trial_number: "NA", woman.trial_number: "0", unanswered.trial_number: ""}
    # Contraception is asked of both: the man's answer is exported as it is.
    contraception = {row[0]: row[names.index("unwilling_contraception")] for row in table.iter_rows()}
    assert contraception[man.trial_number] is False
