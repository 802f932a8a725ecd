"""Access review: every account, role, site, last login, 2FA status; unused flagged; one-step leave."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEvent, Signature
from core.exports import csv_safe
from core.signatures import signature_sign
from reports.selectors import access_review_rows
from sites.models import Delegation, Site
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def test_review_lists_every_account_with_roles_login_and_two_factor(world, django_assert_max_num_queries):
    TOTPDevice.objects.create(user=world.pi_a, name="app", confirmed=True)
    world.monitor.last_login = timezone.now() - dt.timedelta(days=120)
    world.monitor.save()
    with django_assert_max_num_queries(3):
        rows = {r.user.username: r for r in access_review_rows()}
    assert len(rows) == 9
    assert rows[world.pi_a.username].two_factor and rows[world.pi_a.username].two_factor_required
    assert rows[world.nurse_a.username].site_roles == ["GB01 Research nurse"]
    assert not rows[world.trial_manager.username].two_factor and rows[world.trial_manager.username].two_factor_required
    assert rows["monitor"].unused and not rows[world.nurse_a.username].unused


def test_csv_download_is_for_the_trial_manager_and_neutralises_formulas(client, world):
    world.nurse_a.full_name = '=HYPERLINK("http://evil.example","click")'
    world.nurse_a.save()
    client.force_login(world.nurse_a)
    assert client.get(reverse("reports:access_review")).status_code == 403
    client.force_login(world.trial_manager)
    response = client.get(reverse("reports:access_review") + "?format=csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    names = [r[1] for r in rows[1:]]
    assert '\'=HYPERLINK("http://evil.example","click")' in names
    assert not any(n.startswith("=") for n in names)
    assert AuditEvent.objects.filter(summary="Access review CSV downloaded", actor=world.trial_manager).exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+44 20", "'+44 20"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("NEL-GB01-001", "NEL-GB01-001"),
        (-3.5, "-3.5"),
        (Decimal("-0.5"), "-0.5"),
        (7, "7"),
        (None, ""),
        (True, "Yes"),
    ],
)
def test_csv_safe_neutralises_formula_starts_only(value, expected):
    assert csv_safe(value) == expected


def test_leaving_staff_are_deactivated_in_one_step_and_their_records_remain(client, world, password):
    sig = signature_sign(user=world.pi_a, password=password, meaning="m", obj=world.site_a)
    client.force_login(world.trial_manager)
    url = reverse("reports:account_deactivate", kwargs={"username": world.pi_a.username})
    client.post(url, {"reason": ""})
    world.pi_a.refresh_from_db()
    assert world.pi_a.is_active
    client.post(url, {"reason": "Left the trust"})
    world.pi_a.refresh_from_db()
    assert not world.pi_a.is_active
    entry = Delegation.objects.get(site=world.site_a, user=world.pi_a)
    assert entry.end_date == timezone.localdate()
    assert entry.history.first().history_change_reason == "Account deactivated: Left the trust"
    sig.refresh_from_db()
    assert Signature.objects.filter(pk=sig.pk).exists() and sig.signer == world.pi_a
    assert Site.objects.get(pk=world.site_a.pk).pi == world.pi_a  # the site's record of its PI is kept
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.ACCOUNT_DEACTIVATED, reason="Left the trust").exists()
    client.logout()
    refused = client.post(reverse("accounts:login"), {"username": world.pi_a.username, "password": password})
    assert refused.status_code == 200  # a deactivated account cannot log in


def test_site_staff_cannot_deactivate_anyone(client, world):
    client.force_login(world.pi_a)
    url = reverse("reports:account_deactivate", kwargs={"username": world.nurse_a.username})
    assert client.post(url, {"reason": "x"}).status_code == 403
    world.nurse_a.refresh_from_db()
    assert world.nurse_a.is_active


pytestmark = requirement_marks(pytestmark, "URS-SEC-004")
