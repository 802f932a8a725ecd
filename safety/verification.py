"""The SAE report as a record the monitor verifies against the source (crf.sdv_plan OTHER_RECORDS:
every field, ICH E2A), registered with core.verification at start-up (safety.apps)."""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.verification import VerifiableKind

from .models import SaeReport


def _visible_reports(user):
    return SaeReport.objects.visible_to(user).filter(retired_at__isnull=True)


SAE_REPORT = VerifiableKind(
    code="sae_report",
    label=_("SAE report"),
    model=SaeReport,
    visible=_visible_reports,
    # Verified once the site has sent it: the report the sponsor received is what must match source.
    ready=Q(submitted_at__isnull=False),
    not_ready=_("An SAE report is verified once the site has sent it to the sponsor."),
    site=lambda r: r.adverse_event.patient.site,
    patient_path="adverse_event__patient",
    record_url=lambda r: reverse("safety:sae_detail", args=[r.pk]),
    verify_url=lambda r: reverse("safety:sae_verify", args=[r.pk]),
    describe=lambda r: (
        _("%(kind)s: %(term)s")
        % {
            "kind": _("Initial report") if r.number == 0 else _("Follow-up %(n)s") % {"n": r.number},
            "term": r.adverse_event.term,
        }
    ),
    related=("adverse_event__patient__site",),
)
