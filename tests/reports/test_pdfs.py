"""The PDF CRFs: blank book, casebook and SAE report, rendered by WeasyPrint and read back as text."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from crf import services as crf_services
from crf.models import Demographics, EndOfStudy, Laboratory
from crf.registry import FORMS
from reports.casebook import build_casebook
from reports.models import GeneratedFile
from safety import services as safety_services
from tests.crf.factories import scheduled_patient
from tests.safety.factories import rsi, serious_ae
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def _pages(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


@pytest.fixture
def signed_patient(world, password):
    patient = scheduled_patient(world.site_a, arm="A", initials="ZQ")
    rand = patient.visits.get(code="RAND")
    demo = crf_services.crf_save(
        model=Demographics,
        visit=rand,
        data={"ethnicity": "asian", "height_cm": Decimal("163"), "weight_kg": Decimal("58")},
        actor=world.nurse_a,
    )
    crf_services.crf_mark_complete(form=demo, actor=world.nurse_a)
    lab = crf_services.crf_save(
        model=Laboratory,
        visit=rand,
        data={
            "sample_date": timezone.localdate(),
            "haemoglobin": Decimal("131"),
            "anc": Decimal("3.3"),
            "platelets": Decimal("222"),
            "creatinine_clearance": Decimal("95"),
            "creatinine": Decimal("70"),
            "bilirubin": Decimal("8"),
            "albumin": Decimal("42"),
        },
        actor=world.nurse_a,
    )
    crf_services.crf_mark_complete(form=lab, actor=world.nurse_a)
    query = crf_services.query_raise(form=demo, field="weight_kg", text="Weight on the day?", actor=world.data_manager)
    crf_services.query_answer(query=query, text="Confirmed 58 kg", actor=world.nurse_a)
    crf_services.query_close(query=query, actor=world.data_manager, text="Thanks")
    end = crf_services.crf_save(
        model=EndOfStudy,
        visit=patient.visits.get(code="FU36"),
        data={"end_date": timezone.localdate() - dt.timedelta(days=1), "reason": "withdrawal", "recurrence_free": True},
        actor=world.nurse_a,
    )
    crf_services.crf_mark_complete(form=end, actor=world.nurse_a)
    crf_services.casebook_sign(patient=patient, actor=world.pi_a, password=password)
    return patient


def test_casebook_has_the_trial_number_on_every_page_every_form_and_the_signature(world, signed_patient):
    built = build_casebook(signed_patient.trial_number, lambda p: None)
    pages = _pages(built.pdf.content)
    assert len(pages) == built.pdf.pages >= 4
    for number, text in enumerate(pages, start=1):
        assert signed_patient.trial_number in text, f"page {number}"
        assert f"Page {number} of {len(pages)}" in text
    text = "\n".join(pages)
    for title in ("Demographics", "Laboratory", "End of study"):
        assert title in text
    assert "163.0 cm" in text and "Weight on the day?" in text and "Confirmed 58 kg" in text
    assert f"{world.pi_a.get_full_name()} — “I approve the data in this casebook”" in text
    assert "UTC" in text and "Appendix: audit trail" in text
    assert "ZQ" not in text  # trial numbers only: no initials or names of the patient


def test_casebook_pdf_request_reuses_an_up_to_date_file_and_regenerates_after_a_change(
    client, world, signed_patient, django_capture_on_commit_callbacks
):
    client.force_login(world.monitor)
    url = reverse("reports:casebook_pdf", args=[signed_patient.trial_number])
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url)
    generated = GeneratedFile.objects.get()
    assert generated.status == GeneratedFile.Status.DONE and len(generated.sha256) == 64  # eager Celery in tests
    assert first["Location"] == reverse("reports:generated_file", args=[generated.pk])
    client.post(url)
    assert GeneratedFile.objects.count() == 1
    crf_services.crf_save(
        model=Demographics,
        visit=signed_patient.visits.get(code="RAND"),
        data={"weight_kg": Decimal("59")},
        actor=world.nurse_a,
        reason="Scale recalibrated",
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url)
    assert GeneratedFile.objects.count() == 2


def test_blank_crf_book_lists_every_form_with_units_choices_and_checks(tmp_path):
    out = tmp_path / "blank.pdf"
    call_command("render_pdf", "blank", "--out", str(out), stdout=io.StringIO())
    text = "\n".join(_pages(out.read_bytes()))
    for model in FORMS.values():
        assert str(model.FORM_TITLE) in text, model.FORM_TITLE
    assert "range 100–230" in text and "Clavien-Dindo" in text and "IIIa" in text
    assert "7,400 MBq ± 10 %" in text


def test_sae_pdf_shows_the_signature_manifestation(world, password, tmp_path):
    rsi()
    report = serious_ae(world.site_a, world.nurse_a).sae_reports.get()
    report = safety_services.sae_update(report=report, data={"narrative": "Fever 39 °C."}, actor=world.nurse_a)
    safety_services.sae_sign(
        report=report,
        actor=world.pi_a,
        password=password,
        assessment={
            "pi_causality_lutathera": "possible",
            "pi_causality_amino_acids": "unrelated",
            "pi_causality_procedures": "unrelated",
            "pi_expectedness": "expected",
        },
    )
    out = tmp_path / "sae.pdf"
    call_command("render_pdf", "sae", "--report", str(report.pk), "--out", str(out), stdout=io.StringIO())
    text = " ".join(" ".join(_pages(out.read_bytes())).split())  # lines wrap where the page width says
    assert report.patient.trial_number in text and "Fever 39 °C." in text
    assert f"Electronically signed by {world.pi_a.get_full_name()}" in text
    assert "I confirm my causality and expectedness assessment" in text and "UTC" in text


def test_render_pdf_command_errors_are_clear(tmp_path):
    with pytest.raises(CommandError, match="--patient"):
        call_command("render_pdf", "casebook", "--out", str(tmp_path / "x.pdf"))
    with pytest.raises(CommandError, match="No patient NEL-ZZ99-001"):
        call_command("render_pdf", "casebook", "--patient", "NEL-ZZ99-001", "--out", str(tmp_path / "x.pdf"))
    with pytest.raises(CommandError, match="--report"):
        call_command("render_pdf", "sae", "--report", "999", "--out", str(tmp_path / "x.pdf"))


pytestmark = requirement_marks(pytestmark, "URS-PDF-001")
