"""Translation lookups without the empty English fallback chain."""

import gettext


def drop_empty_fallbacks(translation: gettext.NullTranslations) -> int:
    """Detach the fallback catalogs of ``translation`` (Django's for the site's language) when they
    hold no message at all; return how many were dropped.

    Python's gettext finds both ``en_GB`` and ``en`` catalogs in every locale directory and Django
    chains each ``en`` one behind the merged ``en-gb`` translation: six catalogs that hold only
    their header. Our English source strings are almost never in a catalog, so every one of the
    ~500 lookups on a page walked all six (a fifth of the patient list's rendering). Written by
    hand because neither Django nor a library offers it; a catalog with any message is kept.
    """
    chain, fallback = [], translation._fallback
    while fallback is not None:
        chain.append(fallback)
        fallback = getattr(fallback, "_fallback", None)
    if any(set(getattr(f, "_catalog", {"?": "?"})) - {""} for f in chain):
        return 0
    translation._fallback = None
    return len(chain)
