"""Reason for change, field history and the append-only audit table."""

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError, InternalError
from django.urls import reverse

from accounts.models import AuditEvent, TrialDataDeletionError
from core.audit import record_update
from core.errors import EditConflict, ReasonRequired
from sites.models import Site
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def _site_form_data(site, **overrides):
    data = {
        "name": site.name,
        "country": site.country,
        "timezone": site.timezone,
        "pi": site.pi_id,
        "recruitment_target": site.recruitment_target,
        "ethics_approval_date": site.ethics_approval_date.isoformat(),
        "rd_approval_date": site.rd_approval_date.isoformat(),
        "contract_signed_date": site.contract_signed_date.isoformat(),
        "initiation_visit_date": site.initiation_visit_date.isoformat(),
        "pi_cv_on_file": "on",
        "pi_gcp_on_file": "on",
        "version": site.version,
        "reason": "",
    }
    data.update(overrides)
    return data


def test_editing_a_saved_record_without_reason_is_refused_on_the_form(client, world):
    client.force_login(world.trial_manager)
    url = reverse("sites:site_update", kwargs={"code": "GB01"})
    response = client.post(url, _site_form_data(world.site_a, recruitment_target=35))
    assert response.status_code == 200
    assert "Give a reason for changing saved data." in response.context["form"].errors["reason"]
    # What was typed is still on the form, and nothing was saved.
    assert b'value="35"' in response.content
    world.site_a.refresh_from_db()
    assert world.site_a.recruitment_target == 20


def test_editing_with_a_reason_records_old_new_who_when_why(client, world):
    client.force_login(world.trial_manager)
    url = reverse("sites:site_update", kwargs={"code": "GB01"})
    response = client.post(url, _site_form_data(world.site_a, recruitment_target=35, reason="Target raised by TSC"))
    assert response.status_code == 302
    world.site_a.refresh_from_db()
    assert world.site_a.recruitment_target == 35
    latest = world.site_a.history.first()
    assert latest.history_user == world.trial_manager
    assert latest.history_change_reason == "Target raised by TSC"
    assert latest.prev_record.recruitment_target == 20

    page = client.get(reverse("sites:site_history", kwargs={"code": "GB01"}))
    entry = page.context["entries"][0]
    assert entry.who == world.trial_manager.full_name
    assert entry.reason == "Target raised by TSC"
    assert [(c.field, c.old, c.new) for c in entry.changes] == [("Recruitment target", "20", "35")]
    assert entry.at_local.tzinfo is not None and str(entry.at_local.tzinfo) == "Europe/London"
    body = page.content.decode()
    assert "Target raised by TSC" in body and world.trial_manager.full_name in body


def test_unchanged_save_needs_no_reason_and_writes_no_history(world):
    before = world.site_a.history.count()
    record_update(obj=world.site_a, data={"recruitment_target": 20}, actor=world.trial_manager, reason="")
    assert world.site_a.history.count() == before


def test_service_refuses_a_change_without_reason(world):
    with pytest.raises(ReasonRequired):
        record_update(obj=world.site_a, data={"name": "New"}, actor=world.trial_manager, reason="  ")
    world.site_a.refresh_from_db()
    assert world.site_a.name == "London"


def test_stale_version_is_refused_and_first_writer_wins(world):
    opened_at = world.site_a.version
    record_update(
        obj=world.site_a,
        data={"name": "First"},
        actor=world.trial_manager,
        reason="one",
        expected_version=opened_at,
    )
    stale = Site.objects.get(pk=world.site_a.pk)
    with pytest.raises(EditConflict) as exc:
        record_update(
            obj=stale,
            data={"name": "Second"},
            actor=world.data_manager,
            reason="two",
            expected_version=opened_at,
        )
    assert world.trial_manager.full_name in exc.value.message
    world.site_a.refresh_from_db()
    assert world.site_a.name == "First"


def test_trial_data_cannot_be_deleted(world):
    with pytest.raises(TrialDataDeletionError):
        world.site_a.delete()
    with pytest.raises(TrialDataDeletionError):
        Site.objects.all().delete()
    assert Site.objects.count() == 2


def test_audit_events_are_append_only_in_the_orm(world):
    event = AuditEvent.objects.create(kind=AuditEvent.Kind.LOGIN, actor=world.nurse_a)
    event.summary = "tampered"
    with pytest.raises(TrialDataDeletionError):
        event.save()
    with pytest.raises(TrialDataDeletionError):
        event.delete()


@pytest.mark.postgres
def test_audit_events_are_append_only_in_postgresql(world):
    event = AuditEvent.objects.create(kind=AuditEvent.Kind.LOGIN, actor=world.nurse_a)
    for sql in (
        "UPDATE accounts_auditevent SET summary = 'x' WHERE id = %s",
        "DELETE FROM accounts_auditevent WHERE id = %s",
    ):
        with pytest.raises((InternalError, DatabaseError)), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk, summary="").exists()


def test_role_change_is_audited_with_old_and_new(client, world):
    client.force_login(world.sysadmin)
    url = reverse("accounts:user_update", kwargs={"username": world.monitor.username})
    data = {
        "full_name": world.monitor.full_name,
        "email": world.monitor.email,
        "trial_role": "data_manager",
        "is_active": "on",
        "reason": "",
    }
    refused = client.post(url, data)
    assert "Give a reason" in str(refused.context["form"].errors["reason"])
    world.monitor.refresh_from_db()
    assert world.monitor.trial_role == "monitor"

    client.post(url, {**data, "reason": "Moved to data management"})
    world.monitor.refresh_from_db()
    assert world.monitor.trial_role == "data_manager"
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.ROLE_CHANGED)
    assert event.actor == world.sysadmin
    assert event.detail == {"field": "trial_role", "old": "monitor", "new": "data_manager"}
    assert event.reason == "Moved to data management"
    assert world.monitor.history.first().history_change_reason == "Moved to data management"


def test_only_the_sysadmin_manages_accounts(client, world):
    for user in (world.trial_manager, world.nurse_a, world.pi_a):
        client.force_login(user)
        assert client.get(reverse("accounts:user_list")).status_code == 403


pytestmark = requirement_marks(pytestmark, "URS-AUD-001", "URS-AUD-002", "URS-AUD-003", "URS-CRF-005")
