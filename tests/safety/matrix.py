"""Safety URLs for the role × site matrix."""

from tests.crf.factories import scheduled_patient
from tests.safety.factories import serious_ae


def _ae(site):
    from core.roles import SiteRole
    from sites.models import Delegation

    nurse = Delegation.objects.filter(site=site, role=SiteRole.RESEARCH_NURSE).first().user
    ae = serious_ae(site, nurse)
    return ae


URLS = {
    "safety:ae_list": ("get", lambda site: {"trial_number": scheduled_patient(site).trial_number}),
    "safety:ae_new": ("get", lambda site: {"trial_number": scheduled_patient(site).trial_number}),
    "safety:ae_edit": (
        "get",
        lambda site: (lambda ae: {"trial_number": ae.patient.trial_number, "ae_id": ae.pk})(_ae(site)),
    ),
    "safety:ae_history": (
        "get",
        lambda site: (lambda ae: {"trial_number": ae.patient.trial_number, "ae_id": ae.pk})(_ae(site)),
    ),
    "safety:ae_code": (
        "post",
        lambda site: (lambda ae: {"trial_number": ae.patient.trial_number, "ae_id": ae.pk})(_ae(site)),
    ),
    "safety:sae_detail": ("get", lambda site: {"report_id": _ae(site).sae_reports.get().pk}),
    "safety:sae_history": ("get", lambda site: {"report_id": _ae(site).sae_reports.get().pk}),
    "safety:sae_verify": ("post", lambda site: {"report_id": _ae(site).sae_reports.get().pk}),
    "safety:sae_sign": ("post", lambda site: {"report_id": _ae(site).sae_reports.get().pk}),
    "safety:sae_action": ("post", lambda site: {"report_id": _ae(site).sae_reports.get().pk, "action": "follow_up"}),
}
