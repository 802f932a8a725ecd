"""Site registration, activation checklist, status changes and the delegation log."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Signature
from core.errors import DomainError, NotPermitted
from core.roles import SiteRole
from sites import services
from sites.models import Delegation, Duty, Site
from tests.accounts.factories import UserFactory
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


def _register_form(pi, **overrides):
    data = {
        "code": "fr01",
        "name": "Gustave Roussy",
        "country": "FR",
        "timezone": "Europe/Paris",
        "pi": pi.pk,
        "recruitment_target": "12",
        "ethics_approval_date": "",
        "rd_approval_date": "",
        "contract_signed_date": "",
        "initiation_visit_date": "",
    }
    data.update(overrides)
    return data


def test_trial_manager_registers_a_pending_site_with_its_pi_delegated(client, world):
    pi = UserFactory()
    client.force_login(world.trial_manager)
    response = client.post(reverse("sites:site_create"), _register_form(pi))
    assert response.status_code == 302
    site = Site.objects.get(code="FR01")
    assert site.status == Site.Status.PENDING
    entry = site.delegations.get()
    assert entry.user == pi and entry.role == SiteRole.PRINCIPAL_INVESTIGATOR and entry.is_current()
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SITE_REGISTERED, site_code="FR01").exists()
    assert site.history.first().history_user == world.trial_manager


def test_bad_input_on_site_form_gets_messages_next_to_fields_and_keeps_what_was_typed(client, world):
    client.force_login(world.trial_manager)
    tomorrow = (TODAY() + dt.timedelta(days=1)).isoformat()
    response = client.post(
        reverse("sites:site_create"),
        _register_form(
            world.pi_a,
            code="London-1",
            recruitment_target="many",
            ethics_approval_date=tomorrow,
            name="",
        ),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "two capital letters" in str(errors["code"])
    assert "whole number" in str(errors["recruitment_target"])
    assert "in the future" in str(errors["ethics_approval_date"])
    assert "required" in str(errors["name"])
    body = response.content.decode()
    assert 'value="London-1"' in body and 'value="many"' in body and f'value="{tomorrow}"' in body
    # Each error sits with its field (crispy renders invalid-feedback beside the input).
    assert 'id="id_recruitment_target"' in body and "is-invalid" in body
    assert not Site.objects.filter(name="").exists()


def test_duplicate_site_code_is_refused_at_the_field(client, world):
    client.force_login(world.trial_manager)
    response = client.post(reverse("sites:site_create"), _register_form(world.pi_a, code="GB01"))
    assert "already" in str(response.context["form"].errors["code"])


def test_activation_requires_the_complete_checklist(world):
    site = services.site_register(
        actor=world.trial_manager,
        data={
            "code": "FR01",
            "name": "Paris",
            "country": "FR",
            "timezone": "Europe/Paris",
            "pi": UserFactory(),
            "recruitment_target": 10,
            "ethics_approval_date": TODAY(),
        },
    )
    with pytest.raises(DomainError) as exc:
        services.site_activate(actor=world.trial_manager, site=site)
    for item in (
        "R&D / institutional approval date",
        "Contract signed date",
        "Site initiation visit date",
        "PI CV on file",
        "PI GCP certificate on file",
    ):
        assert item in exc.value.message
    site.refresh_from_db()
    assert site.status == Site.Status.PENDING

    services.site_update(
        actor=world.trial_manager,
        site=site,
        reason="Checklist documents received",
        data={
            "rd_approval_date": TODAY(),
            "contract_signed_date": TODAY(),
            "initiation_visit_date": TODAY(),
            "pi_cv_on_file": True,
            "pi_gcp_on_file": True,
        },
    )
    services.site_activate(actor=world.trial_manager, site=site)
    site.refresh_from_db()
    assert site.status == Site.Status.ACTIVE and site.activated_at is not None
    event = AuditEvent.objects.filter(kind=AuditEvent.Kind.SITE_STATUS_CHANGED, site_code="FR01").first()
    assert "Pending activation → Active" in event.summary


def test_status_changes_follow_the_lifecycle_and_need_a_reason(client, world):
    client.force_login(world.trial_manager)
    url = reverse("sites:site_status", kwargs={"code": "GB01", "action": "hold"})
    client.post(url, {"reason": ""}, follow=True)
    world.site_a.refresh_from_db()
    assert world.site_a.status == Site.Status.ACTIVE
    client.post(url, {"reason": "Radiopharmacy closed for refurbishment"})
    world.site_a.refresh_from_db()
    assert world.site_a.status == Site.Status.ON_HOLD
    assert not world.site_a.can_recruit()
    client.post(reverse("sites:site_status", kwargs={"code": "GB01", "action": "activate"}))
    world.site_a.refresh_from_db()
    assert world.site_a.status == Site.Status.ACTIVE
    client.post(
        reverse("sites:site_status", kwargs={"code": "GB01", "action": "close"}),
        {"reason": "Recruitment ended"},
    )
    world.site_a.refresh_from_db()
    assert world.site_a.status == Site.Status.CLOSED
    with pytest.raises(DomainError):
        services.site_activate(actor=world.trial_manager, site=world.site_a)


@pytest.mark.parametrize("role", ["pi_a", "nurse_a", "data_manager", "monitor"])
def test_only_the_trial_manager_registers_activates_and_edits_sites(client, world, role):
    client.force_login(getattr(world, role))
    assert client.get(reverse("sites:site_create")).status_code == 403
    assert client.get(reverse("sites:site_update", kwargs={"code": "GB01"})).status_code == 403
    assert (
        client.post(
            reverse("sites:site_status", kwargs={"code": "GB01", "action": "hold"}), {"reason": "x"}
        ).status_code
        == 403
    )
    with pytest.raises(NotPermitted):
        services.site_hold(actor=getattr(world, role), site=world.site_a, reason="x")


def test_delegation_takes_effect_only_after_pi_sign_off(client, world, password):
    newcomer = UserFactory()
    entry = services.delegation_add(
        actor=world.pi_a,
        site=world.site_a,
        user=newcomer,
        role=SiteRole.RESEARCH_NURSE,
        duties=[Duty.CRF_ENTRY],
        start_date=TODAY(),
    )
    assert not Site.objects.visible_to(newcomer).exists()

    client.force_login(world.pi_a)
    url = reverse("sites:delegation_sign", kwargs={"code": "GB01", "delegation_id": entry.pk})
    refused = client.post(url, {"username": world.pi_a.username, "password": "wrong", "accept": "on"})
    assert "not correct" in str(refused.context["form"].errors["password"])
    entry.refresh_from_db()
    assert entry.pi_signed_off_at is None
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGNATURE_FAILED, actor=world.pi_a).exists()

    assert client.post(url, {"username": world.pi_a.username, "password": password, "accept": "on"}).status_code == 302
    entry.refresh_from_db()
    assert entry.pi_signed_off_by == world.pi_a
    newcomer = type(newcomer).objects.get(pk=newcomer.pk)  # fresh cached site roles
    assert list(Site.objects.visible_to(newcomer)) == [world.site_a]
    sig = Signature.objects.get(signer=world.pi_a)
    assert sig.meaning == services.DELEGATION_SIGN_OFF_MEANING and sig.is_valid


def test_first_sign_off_of_a_session_asks_for_the_user_id_and_later_ones_the_password(client, world, password):
    """21 CFR 11.200(a)(1)(i): the first signing of a continuous session executes every component of
    the signature (user id and password); later signings in that session need only the password."""
    first, second = (
        services.delegation_add(
            actor=world.pi_a,
            site=world.site_a,
            user=UserFactory(),
            role=SiteRole.RESEARCH_NURSE,
            duties=[Duty.CRF_ENTRY],
            start_date=TODAY(),
        )
        for _ in range(2)
    )
    client.force_login(world.pi_a)
    url = reverse("sites:delegation_sign", kwargs={"code": "GB01", "delegation_id": first.pk})
    assert "username" in client.get(url).context["form"].fields
    wrong_id = client.post(url, {"username": world.pi_b.username, "password": password, "accept": "on"})
    assert "not your user id" in str(wrong_id.context["form"].errors["username"])
    assert not Signature.objects.exists()
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGNATURE_FAILED, summary="Wrong user id at signing").exists()
    assert client.post(url, {"username": world.pi_a.username, "password": password, "accept": "on"}).status_code == 302

    url = reverse("sites:delegation_sign", kwargs={"code": "GB01", "delegation_id": second.pk})
    assert "username" not in client.get(url).context["form"].fields
    assert client.post(url, {"password": password, "accept": "on"}).status_code == 302
    assert Signature.objects.filter(signer=world.pi_a).count() == 2


def test_sign_off_form_requires_accepting_the_meaning(client, world, password):
    entry = services.delegation_add(
        actor=world.pi_a,
        site=world.site_a,
        user=UserFactory(),
        role=SiteRole.RESEARCH_NURSE,
        duties=[Duty.CRF_ENTRY],
        start_date=TODAY(),
    )
    client.force_login(world.pi_a)
    url = reverse("sites:delegation_sign", kwargs={"code": "GB01", "delegation_id": entry.pk})
    response = client.post(url, {"password": password})
    assert response.context["form"].errors["accept"]
    assert not Signature.objects.exists()


def test_only_the_site_pi_signs_off(world, password):
    entry = services.delegation_add(
        actor=world.trial_manager,
        site=world.site_a,
        user=UserFactory(),
        role=SiteRole.RESEARCH_NURSE,
        duties=[Duty.CRF_ENTRY],
        start_date=TODAY(),
    )
    for actor in (world.nurse_a, world.trial_manager, world.pi_b):
        with pytest.raises(NotPermitted):
            services.delegation_sign_off(actor=actor, entry=entry, password=password)


def test_ending_a_delegation_removes_access_from_the_next_day(world):
    entry = Delegation.objects.get(site=world.site_a, user=world.nurse_a)
    services.delegation_end(
        actor=world.pi_a, entry=entry, end_date=TODAY() - dt.timedelta(days=1), reason="Left the trust"
    )
    nurse = type(world.nurse_a).objects.get(pk=world.nurse_a.pk)
    assert not Site.objects.visible_to(nurse).exists()
    assert entry.history.first().history_change_reason == "Left the trust"
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.DELEGATION_ENDED, reason="Left the trust").exists()


def test_delegation_end_before_start_is_refused_at_the_field(client, world):
    client.force_login(world.pi_a)
    response = client.post(
        reverse("sites:delegation_add", kwargs={"code": "GB01"}),
        {
            "user": UserFactory().pk,
            "role": SiteRole.RESEARCH_NURSE,
            "duties": [Duty.CRF_ENTRY],
            "start_date": TODAY().isoformat(),
            "end_date": (TODAY() - dt.timedelta(days=3)).isoformat(),
        },
    )
    assert "before the start date" in str(response.context["form"].errors["end_date"])


def test_nurse_cannot_manage_the_delegation_log(client, world):
    client.force_login(world.nurse_a)
    assert client.get(reverse("sites:delegation_add", kwargs={"code": "GB01"})).status_code == 403


pytestmark = requirement_marks(pytestmark, "URS-SITE-001", "URS-SITE-002")


def test_the_delegation_form_lists_only_this_sites_staff_and_finds_others_by_exact_email(client, world):
    """Issue 19 finding 7: the form listed every account, other sites' staff included."""
    newcomer = UserFactory(full_name="Nadia Newcomer", email="nadia.newcomer@example.org")
    client.force_login(world.pi_a)
    url = reverse("sites:delegation_add", kwargs={"code": "GB01"})
    page = client.get(url).content.decode()
    assert world.nurse_a.full_name in page
    for outsider in (world.nurse_b, world.pi_b, newcomer, world.trial_manager):
        assert outsider.full_name not in page, outsider
    entry = {"role": SiteRole.RESEARCH_NURSE, "duties": [Duty.CRF_ENTRY], "start_date": TODAY().isoformat()}
    other_site = client.post(url, entry | {"user": world.nurse_b.pk})
    assert other_site.status_code == 200 and "user" in other_site.context["form"].errors
    partial = client.post(url, entry | {"email": "nadia@example.org"})
    assert partial.status_code == 200 and "email" in partial.context["form"].errors
    assert newcomer.full_name not in partial.content.decode()
    found = client.post(url, entry | {"email": "Nadia.Newcomer@example.org"})
    assert found.status_code == 302
    assert newcomer.delegations.filter(site=world.site_a).exists()
