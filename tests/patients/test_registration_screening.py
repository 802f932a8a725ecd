"""Issue 22, point 7: a screening entry marked declined or not eligible is not offered for
registration, a sex that contradicts the chosen entry is flagged at the field, the sex has no
default, and the service reports every cross-field rule broken at once."""

import datetime as dt

import pytest
from django.utils import timezone

from core.errors import DomainError
from patients import services
from patients.forms import RegistrationForm
from patients.models import Patient, ScreeningEntry

pytestmark = pytest.mark.django_db


def _entry(world, **fields):
    data = {"screened_on": timezone.localdate(), "age": 60, "sex": "F", "eligible": True, "not_randomised_reason": ""}
    data.update(fields)
    return services.screening_log_add(actor=world.nurse_a, site=world.site_a, data=data)


def _data(**overrides):
    day = timezone.localdate() - dt.timedelta(days=40)
    data = {
        "initials": "JS",
        "year_of_birth": 1960,
        "sex": "F",
        "liver_resection_date": day,
        "primary_resection_date": day,
    }
    return data | overrides


def test_declined_or_not_eligible_entries_are_not_offered_for_registration(world):
    offered = _entry(world)
    declined = _entry(world, not_randomised_reason=ScreeningEntry.NotRandomisedReason.DECLINED)
    ineligible = _entry(world, eligible=False, not_randomised_reason=ScreeningEntry.NotRandomisedReason.INELIGIBLE)
    choices = set(RegistrationForm(site=world.site_a).fields["screening"].queryset)
    assert offered in choices and declined not in choices and ineligible not in choices


def test_registering_from_a_declined_entry_is_refused(world, consent_doc):
    declined = _entry(world, not_randomised_reason=ScreeningEntry.NotRandomisedReason.DECLINED)
    consent = {"document": consent_doc, "consented_at": timezone.now() - dt.timedelta(hours=1)}
    with pytest.raises(DomainError) as exc:
        services.patient_register(
            actor=world.nurse_a, site=world.site_a, data=_data(), consent=consent, screening=declined
        )
    assert exc.value.field == "screening" and "Declined" in exc.value.message
    assert not Patient.objects.exists()


def test_a_sex_contradicting_the_screening_entry_is_flagged_at_the_field(world, consent_doc):
    entry = _entry(world, sex="M")
    consent = {"document": consent_doc, "consented_at": timezone.now() - dt.timedelta(hours=1)}
    with pytest.raises(DomainError) as exc:
        services.patient_register(
            actor=world.nurse_a, site=world.site_a, data=_data(sex="F"), consent=consent, screening=entry
        )
    assert dict(exc.value.errors)["sex"].startswith("The screening entry records the sex as male")
    assert not Patient.objects.exists()


def test_the_sex_has_no_default():
    form = RegistrationForm()
    assert form.fields["sex"].choices[0][0] == "" and form["sex"].value() in (None, "")


def test_every_cross_field_rule_broken_is_reported_at_once(world, consent_doc):
    entry = _entry(world, sex="M")
    year = timezone.localdate().year
    consent = {"document": consent_doc, "consented_at": timezone.now() - dt.timedelta(hours=1)}
    data = _data(sex="F", year_of_birth=year - 16, primary_resection_date=timezone.localdate() - dt.timedelta(days=5))
    with pytest.raises(DomainError) as exc:
        services.patient_register(actor=world.nurse_a, site=world.site_a, data=data, consent=consent, screening=entry)
    assert {field for field, _message in exc.value.errors} == {"primary_resection_date", "year_of_birth", "sex"}
