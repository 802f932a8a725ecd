"""Run every periodic job of the beat schedule once, in-process (local mode, cron, or by hand)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string


class Command(BaseCommand):
    help = "Run the periodic jobs (reminders, escalations, outbox) once, synchronously."

    def add_arguments(self, parser):
        parser.add_argument("--only", action="append", default=[], help="Run only this job (repeatable).")

    def handle(self, *args, only, **options):
        schedule = settings.CELERY_BEAT_SCHEDULE
        unknown = set(only) - set(schedule)
        if unknown:
            raise CommandError(f"Unknown job(s): {', '.join(sorted(unknown))}. Known: {', '.join(schedule)}")
        for name, entry in schedule.items():
            if only and name not in only:
                continue
            task = import_string(entry["task"])  # imports the task's module (registers it) if needed
            result = task.apply(args=entry.get("args", ()), kwargs=entry.get("kwargs", {}))
            if result.failed():
                raise CommandError(f"{name} failed: {result.result!r}")
            self.stdout.write(f"{name}: {result.result}")
