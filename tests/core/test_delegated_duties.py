"""Delegated duties in practice, written by hand from the protocol.

protocol.md, "Delegation (GCP): duties gate actions": a site person may do only what the PI has
delegated — consent, eligibility assessment, randomisation, CRF data entry, AE reporting, SAE
causality assessment and sign-off (medically qualified investigators only), sample handling,
query answering — signed and current, checked for every action in every interface. The system
administrator manages accounts and sees no trial data at all (no patient ids, arms or values in
any page, list or audit view).
"""

import datetime as dt
import re

import pytest
from django.urls import get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create
from accounts.models import AuditEvent
from core.errors import NotPermitted
from core.navigation import NAV_ITEMS
from core.policy import Action, can
from core.roles import SiteRole
from crf import services as crf
from crf.access import expected_forms
from crf.models import BiomarkerSample, Demographics
from randomisation import services as randomisation
from safety import services as safety
from sites.models import Duty
from tests.crf.factories import scheduled_patient
from tests.patients.factories import PatientFactory
from tests.safety.factories import AE, serious_ae
from tests.sites.factories import DelegationFactory

pytestmark = pytest.mark.django_db


def _visit_expecting(patient, code):
    return next(v for v in patient.visits.order_by("sequence") if code in expected_forms(v))


@pytest.fixture
def samples_nurse(world):
    """A research nurse whose signed, current delegation lists sample handling and nothing else."""
    return DelegationFactory(site=world.site_a, role=SiteRole.RESEARCH_NURSE, duties=[Duty.SAMPLES]).user


@pytest.fixture
def records(world):
    patient = scheduled_patient(world.site_a)
    visit = _visit_expecting(patient, "demographics")
    form = crf.crf_save(
        model=Demographics, visit=visit, data={"ethnicity": "white"}, actor=world.nurse_a, expected_version=0
    )
    query = crf.query_raise(form=form, field="ethnicity", text="Please check", actor=world.data_manager)
    candidate = PatientFactory(site=world.site_a)
    return {"patient": patient, "visit": visit, "form": form, "query": query, "candidate": candidate}


def test_samples_only_nurse_is_refused_randomise_crf_ae_and_query_answer_by_the_services(samples_nurse, records):
    with pytest.raises(NotPermitted):
        randomisation.patient_randomise(patient=records["candidate"], actor=samples_nurse)
    with pytest.raises(NotPermitted):
        crf.crf_save(
            model=Demographics, visit=records["visit"], data={"height_cm": 170}, actor=samples_nurse, reason="x"
        )
    with pytest.raises(NotPermitted):
        safety.ae_save(
            patient=records["patient"],
            data=AE | {"serious": False, "onset_date": timezone.localdate(), "aware_at": timezone.now()},
            actor=samples_nurse,
        )
    with pytest.raises(NotPermitted):
        crf.query_answer(query=records["query"], text="done", actor=samples_nurse)
    records["form"].refresh_from_db()
    assert records["form"].height_cm is None
    assert records["patient"].adverse_events.count() == 0
    assert records["query"].messages.count() == 0


def test_samples_only_nurse_enters_the_biomarker_sample_form(samples_nurse, records):
    visit = _visit_expecting(records["patient"], "biomarker_sample")
    form = crf.crf_save(
        model=BiomarkerSample, visit=visit, data={"blood_tube_id": "NET-1"}, actor=samples_nurse, expected_version=0
    )
    assert form.blood_tube_id == "NET-1"


def test_samples_only_nurse_is_refused_in_the_ui_and_sees_no_button(client, samples_nurse, records):
    patient, visit, query = records["patient"], records["visit"], records["query"]
    candidate = records["candidate"]
    client.force_login(samples_nurse)
    forged = [
        reverse("randomisation:randomise", args=[candidate.trial_number]),
        reverse("crf:form", args=[patient.trial_number, visit.code, "demographics"]),
        reverse("crf:visit_unscheduled", args=[patient.trial_number]),
        reverse("safety:ae_new", args=[patient.trial_number]),
    ]
    for url in forged:
        assert client.post(url, {"reason": "x"}).status_code == 403, url
    answer = client.post(reverse("crf:query_detail", args=[query.pk]), {"action": "answer", "text": "done"})
    assert answer.status_code == 403
    # No button for what is refused: the patient page, the visit, the AE list and the query.
    pages = {
        reverse("patients:patient_detail", args=[candidate.trial_number]): [
            reverse("randomisation:randomise", args=[candidate.trial_number]),
        ],
        reverse("crf:visit", args=[patient.trial_number, visit.code]): [
            reverse("crf:visit_done", args=[patient.trial_number, visit.code]),
            reverse("crf:visit_missed", args=[patient.trial_number, visit.code]),
        ],
        # The form opens read-only: no save, no complete.
        reverse("crf:form", args=[patient.trial_number, visit.code, "demographics"]): [
            'value="save"',
            'value="complete"',
        ],
        reverse("safety:ae_list", args=[patient.trial_number]): [reverse("safety:ae_new", args=[patient.trial_number])],
        reverse("crf:query_detail", args=[query.pk]): ['value="answer"'],
    }
    for page, absent in pages.items():
        body = client.get(page).content.decode()
        assert "<h1" in body, page
        for fragment in absent:
            assert fragment not in body, (page, fragment)


def test_samples_only_nurse_is_refused_by_the_api(samples_nurse, records):
    _token, key = api_token_create(user=samples_nurse, name="t")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    patient, candidate = records["patient"], records["candidate"]
    calls = [
        api.post(f"/api/v1/patients/{candidate.trial_number}/randomise/", {}, format="json"),
        api.put(
            f"/api/v1/patients/{patient.trial_number}/forms/demographics/",
            {"visit": records["visit"].code, "data": {"height_cm": 170}, "version": 1, "reason": "x"},
            format="json",
        ),
        api.post(f"/api/v1/patients/{patient.trial_number}/adverse-events/", {}, format="json"),
        api.post(f"/api/v1/queries/{records['query'].pk}/answer/", {"text": "done"}, format="json"),
    ]
    assert [c.status_code for c in calls] == [403, 403, 403, 403]
    assert all(c.json()["code"] == "not_permitted" for c in calls)


def test_a_nurse_never_signs_an_sae_even_if_the_log_lists_the_duty(world):
    """SAE causality assessment and sign-off: medically qualified investigators only."""
    nurse = DelegationFactory(site=world.site_a, role=SiteRole.RESEARCH_NURSE, duties=list(Duty.values)).user
    report = serious_ae(world.site_a, world.nurse_a).sae_reports.get(number=0)
    assert not can(nurse, Action.SAE_ASSESS_SIGN, world.site_a)
    with pytest.raises(NotPermitted):
        safety.sae_sign(report=report, actor=nurse, password="x", assessment={})


def test_a_sub_investigator_without_the_sae_duty_cannot_sign(world):
    sub = DelegationFactory(site=world.site_a, role=SiteRole.SUB_INVESTIGATOR, duties=[Duty.CRF_ENTRY]).user
    assert not can(sub, Action.SAE_ASSESS_SIGN, world.site_a)
    assert can(sub, Action.CRF_ENTER, world.site_a)


@pytest.mark.parametrize("how", ["ended", "unsigned", "not started"])
def test_an_ended_unsigned_or_future_delegation_grants_nothing(world, how):
    today = timezone.localdate()
    fields = {
        "ended": {"end_date": today - dt.timedelta(days=1)},
        "unsigned": {"pi_signed_off_at": None},
        "not started": {"start_date": today + dt.timedelta(days=1)},
    }[how]
    user = DelegationFactory(site=world.site_a, role=SiteRole.SUB_INVESTIGATOR, **fields).user
    assert not [a for a in Action if can(user, a, world.site_a)]


def test_the_delegations_load_once_per_user_object(world, django_assert_num_queries):
    from accounts.models import User

    nurse = User.objects.get(pk=world.nurse_a.pk)
    with django_assert_num_queries(1):
        for action in Action:
            can(nurse, action, world.site_a)
            can(nurse, action)


ROLES = ["pi_a", "nurse_a", "trial_manager", "data_manager", "monitor", "statistician", "sysadmin"]


@pytest.mark.parametrize("who", ROLES)
def test_navigation_is_what_the_policy_allows(client, world, who):
    user = getattr(world, who)
    client.force_login(user)
    body = client.get(reverse("home")).content.decode()
    nav = body.split('<nav', 1)[1].split("</nav>", 1)[0]
    for _label, url_name, action in NAV_ITEMS:
        shown = f'href="{reverse(url_name)}"' in nav
        assert shown is (action is None or can(user, action)), (who, url_name)


def test_lock_and_export_is_offered_to_whoever_the_page_admits(client, world):
    """The navigation once offered "Lock & export" to the data manager only while the page let the
    trial manager in: both now read Action.DATASET_VIEW."""
    client.force_login(world.trial_manager)
    assert client.get(reverse("reports:dataset")).status_code == 200
    assert f'href="{reverse("reports:dataset")}"' in client.get(reverse("home")).content.decode()


# What a seeded trial shows that the system administrator must never see.
TRIAL_NUMBER = re.compile(r"NEL-[A-Z]{2}\d{2}-\d{3}")


@pytest.fixture
def seeded(world):
    from patients import services as patient_services
    from tests.patients.factories import ConsentDocumentFactory

    patients = [scheduled_patient(world.site_a, arm="A"), scheduled_patient(world.site_b, arm="B")]
    document = ConsentDocumentFactory()
    for patient in patients:
        nurse = world.nurse_a if patient.site == world.site_a else world.nurse_b
        patient_services.consent_record(
            actor=nurse, patient=patient, data={"document": document, "consented_at": timezone.now()}
        )
    serious_ae(world.site_a, world.nurse_a, term="Febrile neutropenia")
    visit = _visit_expecting(patients[0], "demographics")
    crf.crf_save(
        model=Demographics,
        visit=visit,
        data={"ethnicity": "white", "height_cm": 187, "weight_kg": 93},
        actor=world.nurse_a,
        expected_version=0,
    )
    return patients


def _forbidden_content(body: str, patients) -> list[str]:
    found = TRIAL_NUMBER.findall(body)
    # The AE term, the arms as the EDC names them, and the demographics values entered.
    for value in ("Febrile neutropenia", "best supportive care", "B — Lutathera", 'value="187"', ">187<", ">93<"):
        if value in body:
            found.append(value)
    for patient in patients:
        if patient.trial_number in body or f"NEL-{patient.site.code}" in body:
            found.append(patient.trial_number)
    return found


def test_sysadmin_crawling_every_page_and_api_endpoint_sees_no_trial_data(client, world, seeded):
    client.force_login(world.sysadmin)
    resolver = get_resolver()
    seen, queue = set(), [reverse("home")]
    # Every URL pattern without arguments, and every link found on a page the sysadmin reaches.
    for pattern in list(resolver.reverse_dict):
        if isinstance(pattern, str):
            try:
                queue.append(reverse(pattern))
            except Exception:  # noqa: S112 - patterns with arguments are reached by links
                continue
    while queue:
        url = queue.pop()
        if url in seen or not url.startswith("/") or "logout" in url or url.startswith("/static"):
            continue
        seen.add(url)
        response = client.get(url)
        body = response.content.decode(errors="replace")
        assert not _forbidden_content(body, seeded), (url, _forbidden_content(body, seeded))
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            queue += re.findall(r'href="(/[^"#?]*)', body)
    assert reverse("accounts:user_list") in seen and reverse("accounts:audit_log") in seen
    _token, key = api_token_create(user=world.sysadmin, name="crawl")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    paths = ["/api/v1/sites/", "/api/v1/patients/", "/api/v1/queries/", "/api/v1/exports/"]
    for patient in seeded:
        base = f"/api/v1/patients/{patient.trial_number}/"
        paths += [base, base + "visits/", base + "adverse-events/", base + "forms/demographics/?visit=RAND"]
    for path in paths:
        response = api.get(path)
        assert response.status_code in (200, 403, 404), path
        assert not _forbidden_content(response.content.decode(), seeded), path


def test_sysadmin_audit_trail_holds_account_events_only(client, world, seeded):
    assert AuditEvent.objects.exclude(kind__in=["login", "logout"]).exists()
    client.force_login(world.sysadmin)
    body = client.get(reverse("accounts:audit_log")).content.decode()
    assert not _forbidden_content(body, seeded)
    assert "Febrile" not in body and "query_raised" not in body
    # The trial manager reads the whole trail (AUDIT_VIEW_TRIAL), the trial numbers included.
    client.force_login(world.trial_manager)
    assert TRIAL_NUMBER.search(client.get(reverse("accounts:audit_log")).content.decode())
