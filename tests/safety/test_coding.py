"""MedDRA coding by the medical coder (issue 24, item 8 and the coder role).

Sources: ICH E2B(R3) and MedDRA Term Selection: Points to Consider (verbatim terms are coded by a
trained coder, a duty of its own, not the data manager's); protocol "Safety reporting" (the PI's
signature covers the report and the event it reports). The protocol does not say whether a MedDRA
re-code voids the PI's signature; the safer reading is taken: a code replaced by another voids it.
MedDRA codes below are the LLT codes NCI prints beside the CTCAE v5.0 terms (CTCAE_v5.0, 2017-11-27):
Small intestinal obstruction 10041101, Ileus 10021328.
"""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create
from accounts.models import AuditEvent, User
from core.errors import DomainError
from core.policy import Action, can
from core.roles import TrialRole
from safety import services
from safety.models import SaeReport
from tests.accounts.factories import UserFactory
from tests.safety.factories import rsi, serious_ae

pytestmark = pytest.mark.django_db

ASSESSMENT = {
    "pi_causality_lutathera": "probable",
    "pi_causality_amino_acids": "unrelated",
    "pi_causality_procedures": "unlikely",
    "pi_expectedness": "unexpected",
}
SMALL_INTESTINAL_OBSTRUCTION = "10041101"
ILEUS = "10021328"


@pytest.fixture
def coder():
    return UserFactory(trial_role=TrialRole.MEDICAL_CODER)


def _signed_report(world, password, term="Small bowel obstruction") -> SaeReport:
    rsi()
    ae = serious_ae(world.site_a, world.nurse_a, term=term)
    report = services.sae_update(report=ae.sae_reports.get(), data={"narrative": "Vomiting."}, actor=world.nurse_a)
    return services.sae_sign(report=report, actor=world.pi_a, password=password, assessment=ASSESSMENT)


def test_only_the_medical_coder_codes_and_sees_every_site(world, coder):
    assert can(coder, Action.MEDDRA_CODE, world.site_a) and can(coder, Action.MEDDRA_CODE, world.site_b)
    assert coder.sees_all_sites
    for other in (world.data_manager, world.trial_manager, world.monitor, world.pi_a, world.nurse_a):
        assert not can(other, Action.MEDDRA_CODE, world.site_a), other.username
    # Least privilege: the coder reads trial data but changes none of the site's records.
    assert can(coder, Action.TRIAL_DATA_VIEW)
    for action in (Action.AE_REPORT, Action.EXPORT, Action.QUERY_RAISE, Action.LINE_LISTING, Action.SDV):
        assert not can(coder, action, world.site_a), action


def test_a_recode_after_the_pi_signed_needs_a_reason_and_voids_the_signature(world, password, coder):
    report = _signed_report(world, password)
    ae = report.adverse_event
    code = SMALL_INTESTINAL_OBSTRUCTION
    services.ae_code(ae=ae, actor=coder, llt_code=code, pt_code=code, version="27.1")
    assert services.pi_signed(SaeReport.objects.get(pk=report.pk))  # first coding: the PI signed the verbatim
    with pytest.raises(DomainError) as refused:
        services.ae_code(ae=ae, actor=coder, llt_code=ILEUS, pt_code=ILEUS, version="27.1")
    assert refused.value.field == "reason"
    ae.refresh_from_db()
    assert ae.meddra_llt_code == SMALL_INTESTINAL_OBSTRUCTION  # nothing changed
    services.ae_code(ae=ae, actor=coder, llt_code=ILEUS, pt_code=ILEUS, version="27.1", reason="No mechanical cause")
    report = SaeReport.objects.get(pk=report.pk)
    assert not services.pi_signed(report)
    voided = AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGNATURE_INVALIDATED, target_id=str(report.pk))
    assert voided.count() == 1 and "No mechanical cause" in voided.get().reason
    # The event's history says who re-coded, the old and the new code and why.
    last, before = ae.history.order_by("-history_id")[:2]
    assert (before.meddra_llt_code, last.meddra_llt_code) == (SMALL_INTESTINAL_OBSTRUCTION, ILEUS)
    assert last.history_user_id == coder.pk and "No mechanical cause" in last.history_change_reason
    assert last.coded_at is not None


def test_the_same_codes_again_void_nothing(world, password, coder):
    report = _signed_report(world, password)
    code = SMALL_INTESTINAL_OBSTRUCTION
    services.ae_code(ae=report.adverse_event, actor=coder, llt_code=code, pt_code=code, version="27.0")
    services.ae_code(ae=report.adverse_event, actor=coder, llt_code=code, pt_code=code, version="27.1")
    assert services.pi_signed(SaeReport.objects.get(pk=report.pk))


def test_the_coding_page_recodes_with_the_reason_and_shows_the_voided_signature(client, world, password, coder):
    report = _signed_report(world, password)
    ae = report.adverse_event
    url = reverse("safety:ae_code", args=[ae.patient.trial_number, ae.pk])
    client.force_login(coder)
    first = {"meddra_llt_code": SMALL_INTESTINAL_OBSTRUCTION, "meddra_pt_code": SMALL_INTESTINAL_OBSTRUCTION}
    assert client.post(url, first | {"meddra_version": "27.1"}).status_code == 302
    page = client.get(reverse("safety:ae_edit", args=[ae.patient.trial_number, ae.pk])).content.decode()
    assert 'name="reason"' in page  # a coded event offers the re-code reason
    recode = {"meddra_llt_code": ILEUS, "meddra_pt_code": ILEUS, "meddra_version": "27.1"}
    again = client.post(url, recode)
    assert again.status_code == 200 and "Give the reason for the re-code" in again.content.decode()
    assert client.post(url, recode | {"reason": "Ileus on CT"}).status_code == 302
    assert not services.pi_signed(SaeReport.objects.get(pk=report.pk))


def test_the_worklist_lists_free_text_terms_for_the_coder_only(client, world, coder):
    free = serious_ae(world.site_a, world.nurse_a, term="Small bowel obstruction")
    ctcae = serious_ae(world.site_b, world.nurse_b, term="Nausea")
    client.force_login(coder)
    page = client.get(reverse("safety:coding_list")).content.decode()
    assert free.patient.trial_number in page and ctcae.patient.trial_number not in page
    assert "MedDRA coding" in client.get(reverse("safety:sae_list")).content.decode()
    client.force_login(world.data_manager)
    assert client.get(reverse("safety:coding_list")).status_code == 403


def test_the_api_codes_for_the_coder_and_refuses_the_data_manager(world, coder):
    ae = serious_ae(world.site_a, world.nurse_a, term="Small bowel obstruction")
    path = f"/api/v1/patients/{ae.patient.trial_number}/adverse-events/{ae.pk}/coding/"
    body = {"meddra_llt_code": SMALL_INTESTINAL_OBSTRUCTION, "meddra_pt_code": SMALL_INTESTINAL_OBSTRUCTION}
    body["meddra_version"] = "27.1"

    def call(user: User):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='coding')[1]}")
        return client.post(path, body, format="json")

    assert call(world.data_manager).status_code == 403
    assert call(world.nurse_b).status_code == 404  # another site's event
    response = call(coder)
    assert response.status_code == 200, response.content
    assert response.json()["meddra_llt_code"] == SMALL_INTESTINAL_OBSTRUCTION and not response.json()["needs_coding"]
    body |= {"meddra_llt_code": ILEUS, "meddra_pt_code": ILEUS}
    assert call(coder).status_code == 400  # a re-code without a reason


def test_the_user_admin_assigns_the_coder_role(client, world):
    target = UserFactory()
    client.force_login(world.sysadmin)
    data = {"full_name": target.full_name, "email": target.email, "trial_role": "medical_coder"}
    data |= {"is_active": "on", "reason": "Coder for the trial"}
    response = client.post(reverse("accounts:user_update", args=[target.username]), data)
    assert response.status_code == 302, response.content.decode()[-1500:]
    target.refresh_from_db()
    assert target.trial_role == TrialRole.MEDICAL_CODER
    assert can(target, Action.MEDDRA_CODE)
