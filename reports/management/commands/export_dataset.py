"""Export a locked dataset: python manage.py export_dataset --format csv|odm|xpt|sav|dta|all --out DIR
--user NAME [--lock ID]. Outside the local mode the export is attributed to the named user."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from core.errors import DomainError
from core.policy import Action, can
from reports.dataset import FORMATS, export_dataset


class Command(BaseCommand):
    help = "Export the locked dataset (CSV + dictionary, CDISC ODM 1.3.2, XPT, SAV, DTA) with a manifest."

    def add_arguments(self, parser):
        parser.add_argument("--format", default="all", choices=[*FORMATS, "all"])
        parser.add_argument("--out", required=True)
        parser.add_argument("--lock", type=int, help="the lock to export (default: the one standing)")
        parser.add_argument("--user", help="the data manager exporting (required outside the local mode)")
        parser.add_argument(
            "--unlocked", action="store_true", help="export data that are not locked (labelled: monitoring only)"
        )

    def handle(self, *args, format, out, lock, user, unlocked, **options):
        actor = None
        if user:
            actor = User.objects.filter(username=user, is_active=True).first()
            if actor is None or not can(actor, Action.EXPORT):
                raise CommandError(f"{user} is not an active data manager.")
        elif not getattr(settings, "LOCAL_MODE", False):
            raise CommandError("Name the data manager exporting with --user: an export is attributed to a person.")
        formats = list(FORMATS) if format == "all" else [format]
        try:
            manifest = export_dataset(
                formats=formats, out=Path(out), actor=actor, lock_id=lock, allow_unlocked=unlocked
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for entry in manifest["files"]:
            self.stdout.write(f"{entry['file']}  {entry['sha256']}")
        self.stdout.write(f"manifest written to {out}")
