"""The dataset-lock guards every CRF write calls. They only read the lock table (core's guard).

Locking and unlocking, and the pre-lock checklist built from every domain's ``prelock_blockers()``,
live above the domains in reports.locking: the checklist reads safety, which sits above crf.
"""

from __future__ import annotations

from core.dataset_guard import dataset_write_guard


def entry_guard(what: str = "") -> None:
    """Called by every data-entry service: no entry while the dataset is locked (soft or hard)."""
    dataset_write_guard(what=what)


def query_guard() -> None:
    """Queries stay answerable under a soft lock, not under a hard one."""
    dataset_write_guard(what="queries", soft_lock_allows=True)
