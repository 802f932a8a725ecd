from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Outputs that read across every domain: PDFs, dashboards and dataset exports."""

    name = "reports"
