"""Two-factor authentication: required roles, enrolment, login, backup codes, signing, recovery."""

import re

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEvent, Signature
from accounts.twofactor import backup_codes_replace, requires_two_factor
from core.signatures import SignatureRefused, signature_sign
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _enforced(settings):
    settings.TWO_FACTOR_ENFORCED = True
    # django-otp delays the next attempt after a wrong code; these tests type a wrong code and then a
    # right one at once. test_wrong_codes_are_throttled keeps the throttle on.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def _code(device, step_ahead=0):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=step_ahead):06d}"


def _login(client, user, password):
    return client.post(reverse("accounts:login"), {"username": user.username, "password": password})


def _enrol(user):
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    return device


@pytest.mark.parametrize(
    ("role", "required"),
    [
        ("pi_a", True),
        ("trial_manager", True),
        ("data_manager", True),
        ("statistician", True),
        ("sysadmin", True),
        ("monitor", False),
        ("nurse_a", False),
    ],
)
def test_two_factor_is_required_for_the_roles_that_sign_and_manage(world, role, required):
    assert requires_two_factor(getattr(world, role)) is required


def test_setting_can_require_it_for_everyone(world, settings):
    settings.REQUIRE_2FA_FOR_ALL = True
    assert requires_two_factor(world.nurse_a)


def test_required_user_without_a_device_must_enrol_before_seeing_anything(client, world, password):
    _login(client, world.trial_manager, password)
    response = client.get(reverse("sites:site_list"))
    assert response.status_code == 302 and response["Location"] == reverse("accounts:two_factor_setup")

    setup = client.get(reverse("accounts:two_factor_setup"))
    assert "<svg" in setup.content.decode()  # QR code inline, no image request, no script
    device = TOTPDevice.objects.get(user=world.trial_manager, confirmed=False)
    refused = client.post(reverse("accounts:two_factor_setup"), {"token": "000000"})
    assert "does not match" in str(refused.context["form"].errors["token"])
    done = client.post(reverse("accounts:two_factor_setup"), {"token": _code(device)})
    codes = re.findall(r"<li class=\"col\">(\d{8})</li>", done.content.decode())
    assert len(codes) == 10
    assert client.get(reverse("sites:site_list")).status_code == 200
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.TWO_FACTOR_ENROLLED, actor=world.trial_manager).exists()


def test_login_asks_for_the_code_and_refuses_a_wrong_one(client, world, password):
    device = _enrol(world.pi_a)
    _login(client, world.pi_a, password)
    response = client.get(reverse("sites:site_detail", kwargs={"code": "GB01"}))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:two_factor_verify"))
    wrong = client.post(reverse("accounts:two_factor_verify"), {"token": "123456", "next": "/sites/GB01/"})
    assert "not correct" in str(wrong.context["form"].errors["token"])
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.TWO_FACTOR_FAILED, actor=world.pi_a).exists()
    ok = client.post(reverse("accounts:two_factor_verify"), {"token": _code(device), "next": "/sites/GB01/"})
    assert ok.status_code == 302 and ok["Location"] == "/sites/GB01/"
    assert client.get("/sites/GB01/").status_code == 200


def test_verify_never_redirects_off_site(client, world, password):
    device = _enrol(world.pi_a)
    _login(client, world.pi_a, password)
    ok = client.post(reverse("accounts:two_factor_verify"), {"token": _code(device), "next": "https://evil.example"})
    assert ok["Location"] == "/"


def test_a_backup_code_works_once(client, world, password):
    _enrol(world.pi_a)
    codes = backup_codes_replace(user=world.pi_a)
    _login(client, world.pi_a, password)
    assert client.post(reverse("accounts:two_factor_verify"), {"token": codes[0]}).status_code == 302
    client.logout()
    _login(client, world.pi_a, password)
    again = client.post(reverse("accounts:two_factor_verify"), {"token": codes[0]})
    assert again.status_code == 200


def test_optional_user_is_not_stopped(client, world, password):
    _login(client, world.nurse_a, password)
    assert client.get(reverse("sites:site_list")).status_code == 200


def test_signature_asks_for_the_one_time_code_when_the_signer_has_two_factor(client, world, password):
    device = _enrol(world.pi_a)
    with pytest.raises(SignatureRefused, match="one-time code"):
        signature_sign(user=world.pi_a, password=password, meaning="m", obj=world.site_a)
    with pytest.raises(SignatureRefused, match="one-time code"):
        signature_sign(user=world.pi_a, password=password, meaning="m", obj=world.site_a, otp_token="999999")
    assert not Signature.objects.exists()
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGNATURE_FAILED, actor=world.pi_a).count() == 2
    signature_sign(user=world.pi_a, password=password, meaning="m", obj=world.site_a, otp_token=_code(device))
    assert Signature.objects.filter(signer=world.pi_a).count() == 1


def test_signature_dialog_shows_the_code_field_only_to_two_factor_users(client, world, password, settings):
    from tests.sites.factories import DelegationFactory

    entry = DelegationFactory(site=world.site_a, pi_signed_off_at=None)
    url = reverse("sites:delegation_sign", kwargs={"code": "GB01", "delegation_id": entry.pk})
    settings.TWO_FACTOR_ENFORCED = False
    client.force_login(world.pi_a)
    assert "otp_token" not in client.get(url).context["form"].fields
    settings.TWO_FACTOR_ENFORCED = True
    device = _enrol(world.pi_a)
    client.logout()
    _login(client, world.pi_a, password)
    client.post(reverse("accounts:two_factor_verify"), {"token": _code(device)})
    form = client.get(url).context["form"]
    assert "otp_token" in form.fields
    # The first signing of the session: user id, password and code (21 CFR 11.200(a)(1)).
    data = {"username": world.pi_a.username, "password": password, "accept": "on"}
    response = client.post(url, {**data, "otp_token": _code(device, step_ahead=1)})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.pi_signed_off_by == world.pi_a


def test_administrator_resets_two_factor_with_a_reason_and_it_is_audited(client, world, password):
    _enrol(world.pi_a)
    backup_codes_replace(user=world.pi_a)
    admin_device = _enrol(world.sysadmin)
    _login(client, world.sysadmin, password)
    client.post(reverse("accounts:two_factor_verify"), {"token": _code(admin_device)})
    url = reverse("accounts:two_factor_reset", kwargs={"username": world.pi_a.username})
    assert client.post(url, {"reason": ""}).status_code == 200
    assert TOTPDevice.objects.filter(user=world.pi_a).exists()
    client.post(url, {"reason": "Phone lost, identity checked by phone call"})
    assert not TOTPDevice.objects.filter(user=world.pi_a).exists()
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.TWO_FACTOR_RESET)
    assert event.actor == world.sysadmin and event.reason.startswith("Phone lost")


def test_wrong_codes_are_throttled(client, world, password, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 1
    device = _enrol(world.pi_a)
    _login(client, world.pi_a, password)
    client.post(reverse("accounts:two_factor_verify"), {"token": "000000"})
    # Straight after a wrong code even the right one is refused: guessing cannot be automated.
    refused = client.post(reverse("accounts:two_factor_verify"), {"token": _code(device)})
    assert refused.status_code == 200


def test_password_alone_cannot_reach_the_setup_page_of_a_user_with_a_device(client, world, password):
    """Issue 19, finding 1: log in with the password, open set-up, post a code of a fresh secret.

    Refused at every step, no new secret is issued, and the victim's own device still works.
    """
    victim_device = _enrol(world.pi_a)
    _login(client, world.pi_a, password)
    setup = client.get(reverse("accounts:two_factor_setup"))
    assert setup.status_code == 302 and setup["Location"].startswith(reverse("accounts:two_factor_verify"))
    assert not TOTPDevice.objects.filter(user=world.pi_a, confirmed=False).exists()  # no secret issued
    # An attacker who somehow holds an unconfirmed secret still cannot confirm it.
    planted = TOTPDevice.objects.create(user=world.pi_a, name="attacker", confirmed=False)
    posted = client.post(reverse("accounts:two_factor_setup"), {"token": _code(planted)})
    assert posted.status_code == 302
    planted.refresh_from_db()
    assert planted.confirmed is False
    assert list(TOTPDevice.objects.filter(user=world.pi_a, confirmed=True)) == [victim_device]
    assert client.get(reverse("sites:site_list")).status_code == 302  # still not verified
    ok = client.post(reverse("accounts:two_factor_verify"), {"token": _code(victim_device)})
    assert ok.status_code == 302
    assert client.get(reverse("sites:site_list")).status_code == 200


def test_setup_refuses_an_unverified_session_even_without_the_middleware(client, world, settings):
    """Enforcement off (local mode): the view and service refuse on their own."""
    from accounts.twofactor import totp_enrolment_confirm, totp_enrolment_start
    from core.errors import NotPermitted

    settings.TWO_FACTOR_ENFORCED = False
    _enrol(world.pi_a)
    client.force_login(world.pi_a)
    assert client.get(reverse("accounts:two_factor_setup")).status_code == 302
    assert not TOTPDevice.objects.filter(user=world.pi_a, confirmed=False).exists()
    with pytest.raises(NotPermitted):
        totp_enrolment_start(user=world.pi_a, session_verified=False)
    with pytest.raises(NotPermitted):
        totp_enrolment_confirm(user=world.pi_a, token="123456", session_verified=False)


def test_a_second_device_added_from_a_verified_session_keeps_the_first(client, world, password):
    first = _enrol(world.pi_a)
    codes = backup_codes_replace(user=world.pi_a)
    _login(client, world.pi_a, password)
    client.post(reverse("accounts:two_factor_verify"), {"token": _code(first)})
    assert client.get(reverse("accounts:two_factor_setup")).status_code == 200
    second = TOTPDevice.objects.get(user=world.pi_a, confirmed=False)
    done = client.post(reverse("accounts:two_factor_setup"), {"token": _code(second)})
    assert done.status_code == 302
    assert TOTPDevice.objects.filter(user=world.pi_a, confirmed=True).count() == 2
    client.logout()
    # Both phones log in; the backup codes issued with the first device are still valid.
    for device in (first, second):
        _login(client, world.pi_a, password)
        assert client.post(reverse("accounts:two_factor_verify"), {"token": _code(device, 1)}).status_code == 302
        client.logout()
    _login(client, world.pi_a, password)
    assert client.post(reverse("accounts:two_factor_verify"), {"token": codes[0]}).status_code == 302


def test_removing_a_device_needs_a_verified_session_and_is_audited(client, world, password):
    first = _enrol(world.pi_a)
    second = TOTPDevice.objects.create(user=world.pi_a, name="second", confirmed=True)
    _login(client, world.pi_a, password)
    url = reverse("accounts:two_factor_device_remove", kwargs={"device_id": first.pk})
    client.post(url)
    assert TOTPDevice.objects.filter(pk=first.pk).exists()  # password alone: refused
    client.post(reverse("accounts:two_factor_verify"), {"token": _code(second)})
    client.post(url)
    assert not TOTPDevice.objects.filter(pk=first.pk).exists()
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.TWO_FACTOR_REMOVED, actor=world.pi_a).count() == 1
    # The last authenticator of a role that must use two-factor stays.
    client.post(reverse("accounts:two_factor_device_remove", kwargs={"device_id": second.pk}))
    assert TOTPDevice.objects.filter(pk=second.pk).exists()


def test_another_users_device_cannot_be_removed(client, world, password):
    own = _enrol(world.pi_a)
    other = _enrol(world.pi_b)
    TOTPDevice.objects.create(user=world.pi_a, name="spare", confirmed=True)
    _login(client, world.pi_a, password)
    client.post(reverse("accounts:two_factor_verify"), {"token": _code(own)})
    client.post(reverse("accounts:two_factor_device_remove", kwargs={"device_id": other.pk}))
    assert TOTPDevice.objects.filter(pk=other.pk).exists()


pytestmark = requirement_marks(pytestmark, "URS-SEC-001", "URS-SIG-001")
