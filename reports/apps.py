from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Outputs that read across every domain: PDFs, dashboards and dataset exports."""

    name = "reports"

    def ready(self) -> None:
        # Before a lock is lifted its export is stored, so lock N stays reproducible byte for byte
        # (a domain event with an explicit sender; see crf.locking).
        from crf.locking import dataset_unlocking
        from crf.models import DatasetLock

        from .dataset import snapshot_on_unlock

        dataset_unlocking.connect(snapshot_on_unlock, sender=DatasetLock, dispatch_uid="reports_snapshot_on_unlock")
