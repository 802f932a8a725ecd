from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Outputs that read across every domain: PDFs, dashboards and dataset exports, and the dataset
    lock with its pre-lock checklist (reports.locking)."""

    name = "reports"

    def ready(self) -> None:
        # Imported in ready(), Django's place for code that needs the app registry loaded.
        from core.documents import register_document

        from .casebook import build_casebook
        from .dataset import build_export_zip
        from .models import GeneratedFile

        # Documents of data reports owns; the domains register theirs (crf, safety).
        register_document(GeneratedFile.Kind.CASEBOOK, build_casebook)
        register_document(GeneratedFile.Kind.DATASET_EXPORT, build_export_zip)
