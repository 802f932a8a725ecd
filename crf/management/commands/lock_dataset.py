"""Lock (or unlock) the dataset for analysis: python manage.py lock_dataset --reason TEXT [--hard]."""

from django.core.management.base import BaseCommand, CommandError

from accounts.errors import DomainError
from accounts.models import User
from accounts.roles import TrialRole
from crf import locking
from crf.models import DatasetLock


class Command(BaseCommand):
    help = "Soft-lock the dataset after the pre-lock checklist, hard-lock it, or unlock it, with a reason."

    def add_arguments(self, parser):
        parser.add_argument("--reason", required=True)
        parser.add_argument("--hard", action="store_true", help="hard lock (read-only), or upgrade a soft lock")
        parser.add_argument("--final", action="store_true", help="a final-analysis lock (default: interim)")
        parser.add_argument("--unlock", action="store_true")
        parser.add_argument("--user", help="the data manager acting (default: the only active data manager)")

    def handle(self, *args, reason, hard, final, unlock, user, **options):
        managers = User.objects.filter(trial_role=TrialRole.DATA_MANAGER, is_active=True)
        if user:
            actor = managers.filter(username=user).first()
            if actor is None:
                raise CommandError(f"{user} is not an active data manager.")
        elif managers.count() == 1:
            actor = managers.get()
        else:
            raise CommandError("Name the data manager with --user.")
        try:
            if unlock:
                lock = locking.dataset_unlock(actor=actor, reason=reason)
                self.stdout.write(f"Unlocked: {lock}")
                return
            kind = DatasetLock.Kind.FINAL if final else DatasetLock.Kind.INTERIM
            lock = locking.dataset_lock(actor=actor, reason=reason, kind=kind, hard=hard)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Locked: {lock} by {actor.username} at {lock.locked_at:%Y-%m-%d %H:%M} UTC")
