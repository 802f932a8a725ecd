"""The permission policy page, as the trial manager and a PI read it (and an inspector after them)."""

import pytest
from playwright.sync_api import expect

from core.policy import POLICY, Action

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_trial_manager_and_pi_read_the_policy_table(page, live_server, world, login, shots, assert_accessible):
    login(page, world.trial_manager)
    expect(page.locator("nav a[href=\"/policy/\"]")).to_have_count(1)
    page.goto(f"{live_server.url}/policy/")
    rows = page.locator("table.policy-table tbody tr")
    assert rows.count() == len(Action)
    # Randomising: site staff with the randomisation duty, no trial-wide role (protocol, Delegation).
    randomise = page.locator(f"#action-{Action.RANDOMISE.value}")
    assert "Randomise patients" in randomise.inner_text()
    assert randomise.locator("[data-grant=duty]").count() == len(POLICY[Action.RANDOMISE].site_roles)
    assert randomise.locator("[data-grant=yes]").count() == 0
    assert_accessible(page)
    shots(page, "policy-trial-manager")

    page.context.clear_cookies()
    login(page, world.pi_a)
    page.goto(f"{live_server.url}/policy/")
    expect(page.locator("table.policy-table tbody tr")).to_have_count(len(Action))
    shots(page, "policy-pi")

    page.context.clear_cookies()
    login(page, world.nurse_a)
    expect(page.locator("nav >> text=Permission policy")).to_have_count(0)
    assert page.goto(f"{live_server.url}/policy/").status == 403
