"""The SAE report form for the sponsor, with the investigator's signature manifestation."""

from __future__ import annotations

from core.documents import BuiltDocument, render_pdf
from core.signatures import signature_status

from . import selectors
from .models import SaeReport


def build_sae_report(subject: str, progress) -> BuiltDocument:
    report = SaeReport.objects.select_related("adverse_event__patient__site", "rsi", "reviewed_by").get(pk=int(subject))
    progress(30)
    pdf = render_pdf(
        "pdf/sae_report.html",
        {
            "report": report,
            "ae": report.adverse_event,
            "patient": report.patient,
            "signatures": signature_status(obj=report),
            "clocks": selectors.sae_clocks(report),
            "allocation": getattr(report.patient, "allocation", None),
        },
    )
    return BuiltDocument(
        filename=f"sae-{report.patient.trial_number}-{report.adverse_event_id}-{report.number}.pdf", pdf=pdf
    )
