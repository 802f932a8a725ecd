"""Figures about a set of sites, cached until one of those sites' data changes.

Each site has a generation number in the cache, moved on by every save of the records the figures
are computed from (crf.receivers). A figure's key holds the generations of the sites it covers, so a
change at a site makes its figures be computed afresh on the next look, while figures of other sites
stay cached. Written by hand: Django's cache offers versions per key, not per group of keys, and the
caching libraries that invalidate on save (cacheops, cachalot) cache every query of the models
concerned, which would put the audit-sensitive trial data itself in Redis.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone


def _generation_key(site_id: int) -> str:
    return f"site-generation:{site_id}"


def site_data_changed(site_id: int | None) -> None:
    """Move the site's generation on: figures covering it are stale from now."""
    if site_id is None:
        return
    key = _generation_key(site_id)
    try:
        cache.incr(key)
    except ValueError:  # no generation yet (or evicted): start one no earlier figure can carry
        cache.set(key, _fresh_generation(), None)


def _fresh_generation() -> int:
    # Random, not 0 or a clock: a generation started after an eviction must never equal one that a
    # cached figure holds (an integer, so that the cache can increment it).
    return secrets.randbits(62)


def cached_for_sites(name: str, site_ids: Iterable[int], compute: Callable[[], Any]) -> Any:
    """``compute()`` for these sites, from the cache while none of them has changed (and at most
    SITE_FIGURES_SECONDS old, a backstop for changes made without a save, such as the date)."""
    ids = sorted(site_ids)
    keys = [_generation_key(pk) for pk in ids]
    generations = cache.get_many(keys)
    for missing in set(keys) - set(generations):
        cache.add(missing, _fresh_generation(), None)
        generations[missing] = cache.get(missing)
    stamp = ".".join(f"{pk}-{generations.get(key, 0)}" for pk, key in zip(ids, keys, strict=True))
    key = f"site-figures:{name}:{timezone.localdate().isoformat()}:{stamp}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, getattr(settings, "SITE_FIGURES_SECONDS", 300))
    return value
