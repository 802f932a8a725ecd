"""Login policy: username or e-mail, lockout after repeated failures (audited), idle expiry."""

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.models import AuditEvent
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def _login(client, username, password):
    return client.post(reverse("accounts:login"), {"username": username, "password": password})


def test_login_by_username_and_by_email(client, world, password):
    assert _login(client, world.nurse_a.username, password).status_code == 302
    client.logout()
    assert _login(client, world.nurse_a.email.upper(), password).status_code == 302
    kinds = list(AuditEvent.objects.filter(actor=world.nurse_a).values_list("kind", flat=True))
    assert kinds.count("login") == 2 and "logout" in kinds


def test_wrong_password_shows_a_message_and_is_audited(client, world):
    response = _login(client, world.nurse_a.username, "nope")
    assert response.status_code == 200
    assert "do not match an active account" in response.content.decode()
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.LOGIN_FAILED, target_id=str(world.nurse_a.pk)).exists()


def test_five_failures_lock_the_account_with_a_clear_message(client, world, password):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, world.nurse_a.username, "wrong").status_code == 200
    locked = _login(client, world.nurse_a.username, "wrong")
    assert locked.status_code in (403, 429)
    assert "Account temporarily locked" in locked.content.decode()
    # Even the right password is refused while the lock lasts, by username and by e-mail.
    assert "Account temporarily locked" in _login(client, world.nurse_a.username, password).content.decode()
    assert "Account temporarily locked" in _login(client, world.nurse_a.email, password).content.decode()
    lockouts = AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCKED_OUT)
    assert lockouts.exists() and {e.target_id for e in lockouts} == {str(world.nurse_a.pk)}
    # Another account from the same address is not locked (hospitals share one NAT address).
    assert _login(client, world.nurse_b.username, password).status_code == 302


def test_failures_by_email_count_against_the_same_account(client, world):
    for i in range(settings.AXES_FAILURE_LIMIT):
        username = world.nurse_a.email if i % 2 else world.nurse_a.username
        response = _login(client, username, "wrong")
    assert "Account temporarily locked" in response.content.decode()


def test_session_expires_after_30_minutes_idle(client, world, password):
    assert settings.SESSION_COOKIE_AGE == 30 * 60 and settings.SESSION_SAVE_EVERY_REQUEST
    _login(client, world.nurse_a.username, password)
    client.get(reverse("home"))
    assert 29 * 60 < client.session.get_expiry_age() <= 30 * 60


def test_password_validators_refuse_a_weak_password(client, world):
    client.force_login(world.sysadmin)
    response = client.post(
        reverse("accounts:user_create"),
        {
            "username": "newnurse",
            "full_name": "New Nurse",
            "email": "n@example.org",
            "trial_role": "",
            "password": "password",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["password"]
    assert b'value="newnurse"' in response.content


pytestmark = requirement_marks(pytestmark, "URS-ACC-003", "URS-ACC-004")


def test_the_lock_ends_after_the_cool_off_period(client, world, password):
    import datetime as dt

    from axes.models import AccessAttempt
    from django.utils import timezone

    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, world.nurse_a.username, "wrong")
    assert "Account temporarily locked" in _login(client, world.nurse_a.username, password).content.decode()
    # Time passes (moved in the database, no sleeping): the cool-off is over and the right password works.
    past = timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(minutes=1)
    assert AccessAttempt.objects.update(attempt_time=past) >= 1
    assert _login(client, world.nurse_a.username, password).status_code == 302
