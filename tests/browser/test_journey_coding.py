"""The medical coder codes a verbatim AE term in MedDRA at 1366 px and re-codes it with a reason,
which voids the PI's SAE signature (ICH E2B(R3); MedDRA Points to Consider; protocol "Safety
reporting", the safer reading of a re-code). Screenshots and axe-core on every page."""

import pytest

from core.roles import TrialRole
from safety import services
from safety.models import SaeReport
from tests.accounts.factories import UserFactory
from tests.safety.factories import rsi, serious_ae

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ASSESSMENT = {
    "pi_causality_lutathera": "probable",
    "pi_causality_amino_acids": "unrelated",
    "pi_causality_procedures": "unlikely",
    "pi_expectedness": "unexpected",
}


def test_the_coder_codes_from_the_worklist_and_a_recode_voids_the_pi_signature(
    page, live_server, world, login, shots, assert_accessible, password
):
    rsi()
    ae = serious_ae(world.site_a, world.nurse_a, term="Small bowel obstruction")
    report = services.sae_update(report=ae.sae_reports.get(), data={"narrative": "Vomiting."}, actor=world.nurse_a)
    services.sae_sign(report=report, actor=world.pi_a, password=password, assessment=ASSESSMENT)
    coder = UserFactory(trial_role=TrialRole.MEDICAL_CODER)
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, coder)
    page.click("nav >> text=MedDRA coding")
    assert "Small bowel obstruction" in page.inner_text("main")
    assert_accessible(page)
    shots(page, "coding-worklist")
    page.click(f"a[href$='/aes/{ae.pk}/']")
    page.fill("#id_meddra_llt_code", "10041101")
    page.fill("#id_meddra_pt_code", "10041101")
    page.fill("#id_meddra_version", "27.1")
    page.click("button:has-text('Save coding')")
    assert "LLT 10041101" in page.inner_text("main")
    assert services.pi_signed(SaeReport.objects.get(pk=report.pk))
    assert_accessible(page)
    shots(page, "coded")
    page.fill("#id_meddra_llt_code", "10021328")
    page.fill("#id_meddra_pt_code", "10021328")
    page.click("button:has-text('Save coding')")
    assert "Give the reason for the re-code" in page.inner_text("main")
    assert page.input_value("#id_meddra_llt_code") == "10021328"  # what was typed is kept
    shots(page, "recode-needs-reason")
    page.fill("#id_reason", "Ileus on CT, no mechanical obstruction")
    page.click("button:has-text('Save coding')")
    assert "LLT 10021328" in page.inner_text("main")
    assert not services.pi_signed(SaeReport.objects.get(pk=report.pk))
    assert_accessible(page)
    shots(page, "recoded")
