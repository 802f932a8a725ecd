"""Small defects of issue 26: the export file page says what the file is (files inside, size,
SHA-256); the blank CRF book can be requested from the UI; activating and closing a site ask
for confirmation (static JavaScript reads data-confirm: the CSP forbids inline handlers)."""

import hashlib
import io
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from reports.models import GeneratedFile
from sites.models import Site
from tests.sites.factories import SiteFactory
from tests.support.requirements import requirement_marks

pytestmark = pytest.mark.django_db


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("demographics.csv", "a,b\n1,2\n")
        archive.writestr("define.xml", "<ODM/>" * 100)
    return buffer.getvalue()


def test_export_page_lists_the_archive_files_size_and_hash_not_pdf_pages(client, world, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    body = _zip_bytes()
    generated = GeneratedFile.objects.create(
        kind=GeneratedFile.Kind.DATASET_EXPORT,
        status=GeneratedFile.Status.DONE,
        filename="nelmas-dataset.zip",
        sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
        requested_by=world.data_manager,
    )
    generated.file.save("nelmas-dataset.zip", ContentFile(body))
    client.force_login(world.data_manager)
    page = client.get(reverse("reports:generated_file", args=[generated.pk])).content.decode()
    assert "demographics.csv" in page and "define.xml" in page and "2 files in the archive" in page
    assert hashlib.sha256(body).hexdigest() in page
    assert "Download nelmas-dataset.zip" in page
    assert "Download PDF" not in page and "0 pages" not in page


@pytest.mark.parametrize(("role", "shown"), [("data_manager", True), ("monitor", True), ("nurse_a", False)])
def test_blank_crf_book_can_be_requested_from_the_record_status_page(client, world, role, shown):
    client.force_login(getattr(world, role))
    page = client.get(reverse("reports:record_status_grid")).content.decode()
    assert (reverse("reports:blank_crf_book") in page) is shown


def test_activate_and_close_ask_for_confirmation(client, world):
    SiteFactory(code="FR01", name="Lyon", country="FR", status=Site.Status.PENDING)
    client.force_login(world.trial_manager)
    page = client.get(reverse("sites:site_detail", args=["FR01"])).content.decode()
    assert 'data-confirm="Activate site FR01?' in page
    assert 'data-confirm="Close site FR01?' in page


pytestmark = requirement_marks(pytestmark, "URS-ACC-001")
