"""A small real document for exercising the generated-file pipeline independently of any domain."""

from reports.documents import render_pdf
from reports.services import BuiltDocument


def build_site_sheet(subject, progress):
    progress(50)
    pdf = render_pdf("pdf/test_sheet.html", {"subject": subject, "rows": range(120)})
    return BuiltDocument(filename=f"sheet-{subject}.pdf", pdf=pdf, source_digest="d" * 64)


def build_broken(subject, progress):
    raise ValueError("template data missing")
