"""The one guard every write of trial data passes: nothing changes while a dataset lock stands.

protocol.md "Locks and sign-off": a dataset lock is a snapshot; while it stands nothing that changes
trial data is accepted (registration, randomisation, withdrawal, forms, AEs, corrections). Every app
(patients, randomisation, crf, safety) calls this guard, and ``record_create`` / ``record_update``
call it for every trial record as a backstop, so a service added later cannot forget it.

The lock model lives in ``crf``, above ``patients`` and ``randomisation`` in the layering; it is
looked up through the app registry here so the lower layers need no import of ``crf``. Moving the
model down would mean a cross-app model move of a history-tracked table (and its historical table)
for one lookup.
"""

from __future__ import annotations

from django.apps import apps

from .errors import DomainError

# Apps whose records are trial data: a standing lock refuses every write to them.
TRIAL_DATA_APPS = frozenset({"patients", "randomisation", "crf", "safety"})
# The lock record itself is written by locking and unlocking.
# The Reference Safety Information is a trial document, not patient data: a new SmPC version must
# be recordable whatever the state of the dataset.
ALWAYS_WRITABLE = frozenset({"crf.datasetlock", "safety.referencesafetyinformation"})
# Queries stay answerable under a soft lock (that is what a soft lock is for), and the PI's casebook
# sign-off (an attestation of the data, not a change to them) is given then too; not under a hard lock.
SOFT_LOCK_WRITABLE = frozenset({"crf.query", "crf.querymessage", "crf.casebook"})


class DatasetLocked(DomainError):
    code = "dataset_locked"

    def __init__(self, lock, what: str = "") -> None:
        self.lock = lock
        who = lock.locked_by.username if lock.locked_by_id else "the data manager"
        super().__init__(
            f"Dataset lock {lock.pk} ({lock.get_kind_display().lower()}, {lock.level} lock, by {who} on "
            f"{lock.locked_at:%Y-%m-%d}) stands: {what or 'trial data'} cannot be changed until it is unlocked "
            "by the data manager with a second person.",
            code=self.code,
        )


def current_lock():
    """The dataset lock in force, or None."""
    lock_model = apps.get_model("crf", "DatasetLock")
    return (
        lock_model.objects.filter(unlocked_at__isnull=True).select_related("locked_by").order_by("-locked_at").first()
    )


def dataset_write_guard(*, what: str = "", soft_lock_allows: bool = False) -> None:
    """Refuse a write of trial data while a lock stands, naming the lock. ``soft_lock_allows``: the
    write is one a soft lock still accepts (answering and closing queries)."""
    lock = current_lock()
    if lock is None:
        return
    if soft_lock_allows and lock.level != "hard":
        return
    raise DatasetLocked(lock, what)


def record_write_guard(obj) -> None:
    """The backstop in ``record_create`` / ``record_update``: decided by the record's model."""
    label = obj._meta.label_lower
    if obj._meta.app_label not in TRIAL_DATA_APPS or label in ALWAYS_WRITABLE:
        return
    dataset_write_guard(what=str(obj._meta.verbose_name), soft_lock_allows=label in SOFT_LOCK_WRITABLE)
