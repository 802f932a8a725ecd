"""Store the derived values of forms saved before the system stored them:
python manage.py backfill_derived_values

Laboratory SI values, creatinine clearance and CTCAE grades; QLQ-C30 scale and summary scores and
the QLQ-GI.NET21 scale scores of the configured map (crf.backfill). Each change is audited with the
reason "Derived values computed". Migration 0012 runs the same backfill; this command is for a
database where a dataset lock stood at migration time, once the lock is lifted, and after the
GI.NET21 scale map is entered or corrected (forms saved before are scored by the new map). Idempotent.
"""

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from crf.backfill import derived_values_backfill


class Command(BaseCommand):
    help = "Compute and store the derived values of laboratory and quality-of-life forms lacking or outdated."

    def handle(self, *args, **options):
        try:
            result = derived_values_backfill()
        except DomainError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{len(result.updated)} form(s) updated.")
        for form in result.skipped_locked:
            self.stdout.write(
                f"Locked, not changed: {form.FORM_TITLE} of {form.patient.trial_number} {form.visit.code} "
                "(unlock it and save it to derive its values)."
            )
