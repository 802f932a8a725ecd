"""403, 404 and 500 pages in the EDC's own style, saying what to do next and leaking nothing."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from nelmas.views import error_500

pytestmark = pytest.mark.django_db


def test_404_page_is_styled_and_generic(client, world):
    client.force_login(world.nurse_a)
    response = client.get("/sites/NL01/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in body and "Back to your home page" in body
    assert "NL01" not in body.replace("/sites/NL01/", "") and "Rotterdam" not in body
    assert "NELMAS" in body and "bootstrap.min.css" in body


def test_403_page_explains_the_role_limit(client, world):
    client.force_login(world.nurse_a)
    response = client.get(reverse("sites:site_create"))
    assert response.status_code == 403
    assert "Your role does not allow this action" in response.content.decode()


def test_403_page_names_who_can_grant_access_and_no_other_site(client, world):
    """Issue 26: site roles come from the site's delegation log signed by its PI; trial-wide roles
    and sites from the trial manager (architecture.md); another site's PI is not named."""
    client.force_login(world.nurse_a)
    body = client.get(reverse("sites:site_create")).content.decode()
    assert world.pi_a.get_full_name() in body
    assert world.trial_manager.get_full_name() in body
    assert world.pi_b.get_full_name() not in body


def test_500_page_stands_alone_and_reassures_about_saved_data():
    response = error_500(RequestFactory().get("/"))
    body = response.content.decode()
    assert response.status_code == 500
    assert "Nothing you saved before this page is lost" in body
    assert "{%" not in body and "static" not in body  # renders even if the template engine is the problem
