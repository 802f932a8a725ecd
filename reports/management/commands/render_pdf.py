"""Render a PDF synchronously for scripts: python manage.py render_pdf casebook|blank|sae ..."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from patients.models import Patient
from reports.models import GeneratedFile
from reports.services import render_now
from safety.models import SaeReport

KINDS = {
    "casebook": GeneratedFile.Kind.CASEBOOK,
    "blank": GeneratedFile.Kind.BLANK_CRF_BOOK,
    "sae": GeneratedFile.Kind.SAE_REPORT,
}


class Command(BaseCommand):
    help = "Render the blank CRF book, a patient's casebook or an SAE report to a PDF file."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(KINDS))
        parser.add_argument("--patient", default="", help="trial number (casebook)")
        parser.add_argument("--report", default="", help="SAE report id (sae)")
        parser.add_argument("--out", required=True, help="the PDF file to write")

    def handle(self, *args, kind, patient, report, out, **options):
        if kind == "casebook":
            if not patient:
                raise CommandError("Give --patient NEL-XXXX-NNN for a casebook.")
            if not Patient.objects.filter(trial_number=patient).exists():
                raise CommandError(f"No patient {patient}.")
            subject = patient
        elif kind == "sae":
            if not report.isdigit() or not SaeReport.objects.filter(pk=int(report)).exists():
                raise CommandError("Give --report with the id of an existing SAE report.")
            subject = report
        else:
            subject = ""
        built = render_now(kind=KINDS[kind], subject=subject)
        Path(out).write_bytes(built.pdf.content)
        self.stdout.write(f"{out}: {built.pdf.pages} pages, {len(built.pdf.content)} bytes")
