"""What is cached about a set of sites (the nurse's home panels) or about a patient (the record
status grid's row) stays until the data it is built from changes.

Each site and each patient has a generation number in the cache, moved on by every save of the
records the figures are built from (crf.receivers). A cache key holds the generations of the sites
(or the patient) it covers, so a change at a site makes its panels be rendered afresh on the next
look, and a change to one patient's records that patient's grid row alone, while the rest stays
cached. Written by hand: Django's cache offers versions per key, not per group of keys, and the
libraries that invalidate on save (cacheops, cachalot) cache every query on those models, a far
wider net than four panels and a grid of one page.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.core.cache import cache
from django.utils import timezone


def _generation_key(site_id: int) -> str:
    return f"site-generation:{site_id}"


def _patient_generation_key(patient_id: int) -> str:
    return f"patient-generation:{patient_id}"


def _move_on(key: str) -> None:
    try:
        cache.incr(key)
    except ValueError:  # no generation yet (or evicted): start one no earlier figure can carry
        cache.set(key, _fresh_generation(), None)


def site_data_changed(site_id: int | None) -> None:
    """Move the site's generation on: figures covering it are stale from now."""
    if site_id is not None:
        _move_on(_generation_key(site_id))


def patient_data_changed(patient_id: int | None) -> None:
    """Move the patient's generation on: their grid row is stale from now."""
    if patient_id is not None:
        _move_on(_patient_generation_key(patient_id))


def _fresh_generation() -> int:
    # Random, not 0 or a clock: a generation started after an eviction must never equal one that a
    # cached figure holds (an integer, so that the cache can increment it).
    return secrets.randbits(62)


def _generations(keys: dict[int, str]) -> dict[int, int]:
    found = cache.get_many(keys.values())
    for key in keys.values():
        if key not in found:
            cache.add(key, _fresh_generation(), None)
            found[key] = cache.get(key)
    return {pk: found.get(key, 0) for pk, key in keys.items()}


def site_generations(site_ids: Iterable[int]) -> dict[int, int]:
    """{site id: its current generation}, in one read of the cache (a site without one gets one).

    Read before the data a cached figure is built from: a save that commits in between then moves
    the generation past the one the figure is stored under, never the other way round."""
    return _generations({pk: _generation_key(pk) for pk in sorted(set(site_ids))})


def patient_generations(patient_ids: Iterable[int]) -> dict[int, int]:
    """{patient id: their current generation}, as site_generations (read before the data)."""
    return _generations({pk: _patient_generation_key(pk) for pk in sorted(set(patient_ids))})


def sites_stamp(site_ids: Iterable[int]) -> str:
    """The current generations of these sites and today's date: a cache key part that changes when
    any of the sites' data changes, and every day."""
    generations = site_generations(site_ids)
    sites = ".".join(f"{pk}-{generation}" for pk, generation in sorted(generations.items()))
    return f"{timezone.localdate().isoformat()}:{sites}"
