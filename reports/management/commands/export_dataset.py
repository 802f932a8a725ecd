"""Export the locked dataset: python manage.py export_dataset --format csv|odm|xpt|sav|dta|all --out DIR."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.errors import DomainError
from reports.dataset import FORMATS, export_dataset


class Command(BaseCommand):
    help = "Export the locked dataset (CSV + dictionary, CDISC ODM 1.3.2, XPT, SAV, DTA) with a manifest."

    def add_arguments(self, parser):
        parser.add_argument("--format", default="all", choices=[*FORMATS, "all"])
        parser.add_argument("--out", required=True)
        parser.add_argument(
            "--unlocked", action="store_true", help="export data that are not locked (labelled: monitoring only)"
        )

    def handle(self, *args, format, out, unlocked, **options):
        formats = list(FORMATS) if format == "all" else [format]
        try:
            manifest = export_dataset(formats=formats, out=Path(out), allow_unlocked=unlocked)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for entry in manifest["files"]:
            self.stdout.write(f"{entry['file']}  {entry['sha256']}")
        self.stdout.write(f"manifest.json written to {out}")
