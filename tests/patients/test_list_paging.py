"""Long lists come in numbered pages of 50 with the total said; filters survive paging."""

import re

import pytest
from django.urls import reverse

from patients.models import Patient
from tests.patients.factories import PatientFactory
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def _rows(response) -> list[str]:
    body = response.content.decode().split("<tbody")[1].split("</tbody>")[0]
    return re.findall(r'fw-semibold" href="[^"]+">([^<]+)</a>', body)


def test_patient_list_pages_through_every_patient_once(client, world):
    patients = PatientFactory.create_batch(120, site=world.site_a)
    client.force_login(world.nurse_a)
    url = reverse("patients:patient_list")
    seen = []
    for page in (1, 2, 3):
        response = client.get(url, {"page": page})
        seen += _rows(response)
    assert len(seen) == 120 and sorted(seen) == sorted(p.trial_number for p in patients)
    first = client.get(url).content.decode()
    assert "1–50 of 120" in first and 'rel="next"' in first and 'rel="prev"' not in first
    last = client.get(url, {"page": 3}).content.decode()
    assert "101–120 of 120" in last and 'rel="next"' not in last
    # The page numbers above the table and again below it (the nurse who scrolled down).
    assert last.count('href="?page=2"') == 4  # "Previous" and "2", twice


def test_junk_or_out_of_range_page_numbers_give_the_nearest_page(client, world):
    PatientFactory.create_batch(60, site=world.site_a)
    client.force_login(world.nurse_a)
    url = reverse("patients:patient_list")
    assert "1–50 of 60" in client.get(url, {"page": "abc"}).content.decode()
    assert "51–60 of 60" in client.get(url, {"page": "99"}).content.decode()


def test_page_links_keep_the_filters(client, world):
    PatientFactory.create_batch(55, site=world.site_a, status=Patient.Status.ELIGIBLE)
    PatientFactory.create_batch(5, site=world.site_a)
    client.force_login(world.nurse_a)
    url = reverse("patients:patient_list")
    body = client.get(url, {"status": "eligible"}).content.decode()
    assert "1–50 of 55" in body
    assert 'href="?status=eligible&amp;page=2"' in body
    assert len(_rows(client.get(url, {"status": "eligible", "page": 2}))) == 5


def test_paging_never_counts_another_sites_patients(client, world):
    PatientFactory.create_batch(3, site=world.site_a)
    PatientFactory.create_batch(70, site=world.site_b)
    client.force_login(world.nurse_a)
    body = client.get(reverse("patients:patient_list")).content.decode()
    assert "1–3 of 3" in body and "pagination" not in body


def test_query_list_pages(client, world, monkeypatch):
    from decimal import Decimal

    from crf import services as crf
    from crf.models import Demographics
    from tests.crf.factories import scheduled_patient

    for _ in range(3):
        patient = scheduled_patient(world.site_a)
        form = crf.crf_save(
            model=Demographics,
            visit=patient.visits.get(code="RAND"),
            data={"height_cm": Decimal(170)},
            actor=world.nurse_a,
        )
        for field in ("height_cm", "weight_kg", "ethnicity"):
            crf.query_raise(form=form, field=field, text="Please check", actor=world.data_manager)
    client.force_login(world.data_manager)
    url = reverse("crf:query_list")
    from core import paging

    monkeypatch.setattr(paging, "PER_PAGE", 4)
    first = client.get(url, {"status": "open"})
    assert "1–4 of 9" in first.content.decode() and 'href="?status=open&amp;page=2"' in first.content.decode()
    last = client.get(url, {"status": "open", "page": 3})
    assert len(last.context["queries"]) == 1


pytestmark = requirement_marks(pytestmark, "URS-PAT-002")


def test_the_list_is_in_site_code_then_registration_order_for_one_site_or_many(client, world):
    """Single-site staff get registration order straight from the (site, sequence) index; users of
    several sites get site code first, the same order either way."""
    from core.roles import SiteRole
    from tests.sites.factories import DelegationFactory

    a = PatientFactory.create_batch(3, site=world.site_a)
    b = PatientFactory.create_batch(3, site=world.site_b)
    both = DelegationFactory(site=world.site_b, role=SiteRole.RESEARCH_NURSE).user
    DelegationFactory(site=world.site_a, user=both, role=SiteRole.RESEARCH_NURSE)
    by_code = sorted([world.site_a, world.site_b], key=lambda s: s.code)
    in_order = sorted(a + b, key=lambda p: p.site_sequence)
    expected = [p.trial_number for site in by_code for p in in_order if p.site == site]
    for user, rows in (
        (world.nurse_a, [p.trial_number for p in sorted(a, key=lambda p: p.site_sequence)]),
        (both, expected),
        (world.data_manager, expected),
    ):
        client.force_login(user)
        assert _rows(client.get(reverse("patients:patient_list"))) == rows
