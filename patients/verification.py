"""The patient records the monitor verifies against the source outside the CRFs (crf.sdv_plan
OTHER_RECORDS: informed consent and the eligibility assessment, 100 %), registered with
core.verification at start-up (patients.apps)."""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.verification import VerifiableKind
from sites.models import in_site_scope

from .models import Consent, EligibilityAssessment


def _visible_consents(user):
    return in_site_scope(Consent.objects.filter(retired_at__isnull=True), user, "patient__site_id")


def _visible_assessments(user):
    return in_site_scope(EligibilityAssessment.objects.filter(retired_at__isnull=True), user, "patient__site_id")


CONSENT = VerifiableKind(
    code="consent",
    label=_("Informed consent"),
    model=Consent,
    visible=_visible_consents,
    ready=Q(),  # a recorded consent is checked against the signed form (ICH E6(R3) 2.8)
    not_ready=_("This consent cannot be verified."),
    site=lambda c: c.patient.site,
    patient_path="patient",
    record_url=lambda c: f"{c.patient.get_absolute_url()}#consent-{c.pk}",
    verify_url=lambda c: reverse("patients:consent_verify", args=[c.patient.trial_number, c.pk]),
    describe=lambda c: (
        _("Consent on information sheet v%(v)s, %(d)s")
        % {"v": c.document.document_version, "d": f"{c.consented_at:%d %b %Y}"}
    ),
)

ELIGIBILITY = VerifiableKind(
    code="eligibility",
    label=_("Eligibility assessment"),
    model=EligibilityAssessment,
    visible=_visible_assessments,
    # The monitor verifies what the investigator confirmed; an assessment still being entered or
    # changed since confirmation (pending) is not yet the record to verify.
    ready=~Q(outcome=EligibilityAssessment.Outcome.PENDING),
    not_ready=_("An eligibility assessment is verified once the investigator has confirmed it."),
    site=lambda a: a.patient.site,
    patient_path="patient",
    record_url=lambda a: f"{a.patient.get_absolute_url()}#eligibility",
    verify_url=lambda a: reverse("patients:eligibility_verify", args=[a.patient.trial_number]),
    describe=lambda a: (
        _("Eligibility assessed on %(d)s: %(o)s") % {"d": f"{a.assessed_on:%d %b %Y}", "o": a.get_outcome_display()}
    ),
)
