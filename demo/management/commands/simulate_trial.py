"""Build a synthetic trial with follow-up: python manage.py simulate_trial --patients N --seed S
[--start YYYY-MM-DD] [--lock-ready]."""

import datetime as dt

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from accounts.models import User
from demo.lock_ready import lock_ready_cleanup
from demo.simulation import simulate_trial
from patients.models import Patient
from randomisation import services


class Command(BaseCommand):
    help = "Create a realistic synthetic trial with up to 3 years of follow-up (enrolment, SAEs and withdrawals through the services; visits, forms, AEs and queries in bulk with the same checks and audit steps)."  # noqa: E501

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=90)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--start",
            type=dt.date.fromisoformat,
            default=None,
            help="the day the first site opens (YYYY-MM-DD; default four years ago)",
        )
        parser.add_argument(
            "--lock-ready",
            action="store_true",
            help="then finish the data manager's clean-up through the services, so the dataset can be locked",
        )

    def handle(self, *args, patients, seed, start, lock_ready, **options):
        if patients < 1:
            raise CommandError("--patients must be at least 1.")
        if start is not None and start > timezone.localdate() - dt.timedelta(days=90):
            raise CommandError("--start must be at least 90 days ago: the first patients need time to be randomised.")
        if Patient.objects.exists():
            raise CommandError("The database already holds patients: simulate into an empty trial.")
        call_command("seed_demo", "--base-only", stdout=self.stdout)
        self._size_the_list(patients)
        counts = simulate_trial(patients_n=patients, seed=seed, stdout=self.stdout, start=start)
        if lock_ready:
            cleaned = lock_ready_cleanup(seed=seed, stdout=self.stdout)
            self.stdout.write("Clean-up: " + ", ".join(f"{k} {v}" for k, v in cleaned.items()))
        self._analyse()
        self.stdout.write(self.style.SUCCESS("Simulated: " + ", ".join(f"{k} {v}" for k, v in counts.items())))

    def _size_the_list(self, patients: int) -> None:
        """The demo design targets 90 patients: a larger simulation gets a list sized for it."""
        config = services.active_config()
        if config is None or config.target >= patients or config.frozen_at is not None:
            return
        stats = User.objects.get(username="stats")
        services.config_save(actor=stats, data={"target": patients}, reason=f"Simulation of {patients} patients")
        services.list_generate(actor=stats, seed="5e" * 16)

    def _analyse(self) -> None:
        """Bring the tables to the state autovacuum keeps a live database in, as PostgreSQL advises
        after a bulk load: fresh statistics (without them the planner chose, at 10,000 patients, to
        scan a whole history table backwards for every exported form) and a visibility map (without
        it no count can be answered from an index alone). VACUUM runs outside a transaction."""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE" if connection.get_autocommit() else "ANALYZE")
