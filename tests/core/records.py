"""The three non-CRF records the SDV plan covers in full, made through the services (crf.sdv_plan
OTHER_RECORDS): a consent, a confirmed eligibility assessment, an SAE report sent to the sponsor."""

from __future__ import annotations

from dataclasses import dataclass

from core.roles import SiteRole
from patients import services as patients
from patients.models import Consent, ConsentDocument, EligibilityAssessment
from safety import services as safety
from safety.models import SaeReport
from sites.models import Delegation
from tests.accounts.factories import TEST_PASSWORD
from tests.patients.factories import ConsentDocumentFactory, PatientFactory, eligible_answers
from tests.safety.factories import rsi, serious_ae


@dataclass
class Records:
    consent: Consent
    assessment: EligibilityAssessment
    report: SaeReport

    def all(self):
        return [self.consent, self.assessment, self.report]


def verifiable_records(site) -> Records:
    nurse = Delegation.objects.filter(site=site, role=SiteRole.RESEARCH_NURSE).first().user
    rsi()
    ae = serious_ae(site, nurse)
    report = safety.sae_update(
        report=ae.sae_reports.get(), data={"narrative": "Admitted with fever 38.9."}, actor=nurse
    )
    report = safety.sae_submit(report=report, actor=nurse)
    consent = ae.patient.consents.get()
    candidate = PatientFactory(site=site)
    document = ConsentDocument.objects.order_by("pk").first() or ConsentDocumentFactory()
    Consent.objects.create(patient=candidate, document=document, consented_at=candidate.created_at, taken_by=nurse)
    patients.eligibility_save(actor=nurse, patient=candidate, data=eligible_answers(candidate))
    assessment = patients.eligibility_confirm(actor=site.pi, patient=candidate, password=TEST_PASSWORD)
    return Records(consent=consent, assessment=assessment, report=SaeReport.objects.get(pk=report.pk))
