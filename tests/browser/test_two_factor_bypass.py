"""The two-factor bypass of issue 19, tried in a real browser: password only, then the set-up page.

Refused (the browser lands on the code page, no secret is shown), and the victim's authenticator
still logs them in; from the verified session the set-up page lists the device and adds a second.
"""

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.support.requirements import requirement_marks

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _code(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_password_alone_never_reaches_a_new_secret(
    page, live_server, world, password, shots, assert_accessible, settings
):
    settings.TWO_FACTOR_ENFORCED = True
    victim = TOTPDevice.objects.create(user=world.pi_a, name="Authenticator app", confirmed=True)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", world.pi_a.username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.goto(f"{live_server.url}/accounts/2fa/setup/")
    assert "/accounts/2fa/verify/" in page.url
    assert page.locator("svg").count() == 0 and "Key" not in page.inner_text("main")
    shots(page, "setup-refused-asks-for-code")
    assert not TOTPDevice.objects.filter(user=world.pi_a, confirmed=False).exists()

    page.fill("#id_token", _code(victim))
    with page.expect_navigation():
        page.click("main button[type=submit]")  # not the top bar's "Log out"
    assert page.url == f"{live_server.url}/accounts/2fa/setup/"
    assert "Your authenticator apps" in page.inner_text("main") and "Add another authenticator" in page.inner_text(
        "main"
    )
    shots(page, "setup-after-verifying")
    assert_accessible(page)
    assert list(TOTPDevice.objects.filter(user=world.pi_a, confirmed=True)) == [victim]


pytestmark = requirement_marks(pytestmark, "URS-SEC-001")
