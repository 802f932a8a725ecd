"""Generated files: rendered in the background, stored with SHA-256, progress, access-checked download."""

import hashlib
import subprocess

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from core import documents
from crf.documents import build_blank_crf_book
from reports import services
from reports.casebook import build_casebook
from reports.dataset import build_export_zip
from reports.models import GeneratedFile
from safety.documents import build_sae_report
from tests.reports import pdf_builders
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


@pytest.fixture
def test_builders(settings, monkeypatch, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], "tests/templates"]}]
    monkeypatch.setitem(documents.DOCUMENTS, GeneratedFile.Kind.CASEBOOK, pdf_builders.build_site_sheet)
    monkeypatch.setitem(documents.DOCUMENTS, GeneratedFile.Kind.SAE_REPORT, pdf_builders.build_broken)


def test_every_kind_of_document_has_the_builder_of_the_app_that_owns_its_data():
    # Issue 21: the domains register their documents with core; reports imports none of them.
    assert documents.document_builder(GeneratedFile.Kind.BLANK_CRF_BOOK) is build_blank_crf_book
    assert documents.document_builder(GeneratedFile.Kind.SAE_REPORT) is build_sae_report
    assert documents.document_builder(GeneratedFile.Kind.CASEBOOK) is build_casebook
    assert documents.document_builder(GeneratedFile.Kind.DATASET_EXPORT) is build_export_zip
    with pytest.raises(ValueError, match="already built by"):
        documents.register_document(GeneratedFile.Kind.SAE_REPORT, build_casebook)
    with pytest.raises(LookupError):
        documents.document_builder("no_such_document")


def test_requested_file_renders_after_commit_with_hash_pages_and_audit(
    world, test_builders, django_capture_on_commit_callbacks, tmp_path
):
    with django_capture_on_commit_callbacks(execute=True):
        generated = services.generated_file_request(
            kind=GeneratedFile.Kind.CASEBOOK, actor=world.nurse_a, subject="NEL-GB01-001", site=world.site_a
        )
    generated.refresh_from_db()
    assert generated.status == GeneratedFile.Status.DONE and generated.progress == 100
    content = generated.file.read()
    assert generated.sha256 == hashlib.sha256(content).hexdigest() and generated.size == len(content)
    assert generated.pages >= 3
    pdf_path = tmp_path / "out.pdf"
    pdf_path.write_bytes(content)
    text = subprocess.run(["pdftotext", str(pdf_path), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")
    assert all(f"NEL-GB01-001 · Page {i} of {generated.pages}" in pages[i - 1] for i in range(1, generated.pages + 1))
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORTED, target_id=str(generated.pk)).exists()


def test_rendering_twice_is_idempotent(world, test_builders, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        generated = services.generated_file_request(kind=GeneratedFile.Kind.CASEBOOK, actor=world.nurse_a, subject="X")
    generated.refresh_from_db()
    again = services.generated_file_render(file_id=generated.pk)
    assert again.sha256 == generated.sha256 and again.file.name == generated.file.name


def test_a_failing_build_is_recorded_not_lost(world, test_builders, django_capture_on_commit_callbacks):
    with pytest.raises(ValueError), django_capture_on_commit_callbacks(execute=True):
        services.generated_file_request(kind=GeneratedFile.Kind.SAE_REPORT, actor=world.pi_a, subject="1")
    failed = GeneratedFile.objects.get()
    assert failed.status == GeneratedFile.Status.FAILED and "template data missing" in failed.error


def test_download_is_scoped_to_the_site_and_audited(client, world, test_builders, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        generated = services.generated_file_request(
            kind=GeneratedFile.Kind.CASEBOOK, actor=world.nurse_a, subject="NEL-GB01-001", site=world.site_a
        )
    url = reverse("reports:generated_file_download", kwargs={"file_id": generated.pk})
    for user, expected in (
        (world.nurse_b, 404),
        (world.pi_b, 404),
        (world.sysadmin, 404),
        (world.nurse_a, 200),
        (world.monitor, 200),
    ):
        client.force_login(user)
        assert client.get(url).status_code == expected, user
    downloads = AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORTED, summary__startswith="Downloaded")
    assert {e.actor for e in downloads} == {world.nurse_a, world.monitor}


def test_status_page_reports_progress_as_json(client, world):
    generated = GeneratedFile.objects.create(
        kind=GeneratedFile.Kind.CASEBOOK, site=world.site_a, progress=40, status=GeneratedFile.Status.RUNNING
    )
    client.force_login(world.nurse_a)
    response = client.get(
        reverse("reports:generated_file", kwargs={"file_id": generated.pk}), HTTP_ACCEPT="application/json"
    )
    assert response.json() == {"status": "running", "progress": 40}
    client.force_login(world.nurse_b)
    assert client.get(reverse("reports:generated_file", kwargs={"file_id": generated.pk})).status_code == 404


def test_trial_wide_files_are_for_trial_wide_roles_only(client, world):
    book = GeneratedFile.objects.create(kind=GeneratedFile.Kind.BLANK_CRF_BOOK)
    assert list(GeneratedFile.objects.visible_to(world.data_manager)) == [book]
    assert not GeneratedFile.objects.visible_to(world.nurse_a).exists()


pytestmark = requirement_marks(pytestmark, "URS-PDF-002")
