"""Lock (or unlock) the dataset for analysis: python manage.py lock_dataset --reason TEXT [--hard].

Unlocking takes two people (protocol.md "Locks and sign-off"): ``--unlock --user DM`` asks with the
reason, ``--approve-unlock --user TM_OR_STATISTICIAN`` lifts the lock.
"""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from core.errors import DomainError
from core.policy import POLICY, Action
from crf.models import DatasetLock
from reports import locking


class Command(BaseCommand):
    help = "Soft-lock the dataset after the pre-lock checklist, hard-lock it, or ask for / approve unlocking."

    def add_arguments(self, parser):
        parser.add_argument("--reason", default="")
        parser.add_argument("--hard", action="store_true", help="hard lock (read-only), or upgrade a soft lock")
        parser.add_argument("--final", action="store_true", help="a final-analysis lock (default: interim)")
        parser.add_argument("--unlock", action="store_true", help="the data manager asks to unlock (with --reason)")
        parser.add_argument(
            "--approve-unlock", action="store_true", help="a trial manager or statistician approves the unlock"
        )
        parser.add_argument("--user", help="who acts (default for locking: the only active data manager)")

    def _actor(self, user, action, what):
        # Candidates are the trial roles the permission policy gives the action; the service
        # itself asks the policy again.
        people = User.objects.filter(trial_role__in=POLICY[action].trial_roles, is_active=True)
        if user:
            actor = people.filter(username=user).first()
            if actor is None:
                raise CommandError(f"{user} is not an active {what}.")
            return actor
        if people.count() == 1:
            return people.get()
        raise CommandError(f"Name the {what} with --user.")

    def handle(self, *args, reason, hard, final, unlock, approve_unlock, user, **options):
        try:
            if approve_unlock:
                if not user:
                    raise CommandError("Name the trial manager or statistician approving with --user.")
                actor = self._actor(user, Action.DATASET_UNLOCK_APPROVE, "trial manager or statistician")
                lock = locking.dataset_unlock_approve(actor=actor, reason=reason)
                self.stdout.write(f"Unlocked: {lock}, approved by {actor.username}")
                return
            if not reason.strip():
                raise CommandError("Give the reason with --reason.")
            actor = self._actor(user, Action.DATASET_LOCK, "data manager")
            if unlock:
                lock = locking.dataset_unlock_request(actor=actor, reason=reason)
                self.stdout.write(f"Unlock asked for: {lock}; a trial manager or statistician approves it.")
                return
            kind = DatasetLock.Kind.FINAL if final else DatasetLock.Kind.INTERIM
            lock = locking.dataset_lock(actor=actor, reason=reason, kind=kind, hard=hard)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Locked: {lock} by {actor.username} at {lock.locked_at:%Y-%m-%d %H:%M} UTC")
