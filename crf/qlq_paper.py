"""The quality-of-life form laid out as the printed EORTC questionnaire (issue 26): one row per item
with its number, its answers 1–4 (1–7 for items 29–30) as radio buttons in aligned columns, under
the questionnaire's section headings.

The item texts and the questionnaire's own headings are copyrighted (protocol CRF 14: EORTC
permission needed). They are shown only when a licence text file is installed
(settings.EORTC_ITEM_TEXT_FILE, absent by default), a JSON file of the licensed wording:

    {"items": {"1": "...", ..., "51": "..."}, "headings": {"q1": "...", "q6": "...", ...}}

where a heading is keyed by the first item of its section. Without it the form shows "Item 12" and
the system's neutral headings.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .scoring import item_range

logger = logging.getLogger(__name__)

# The answer scale of each kind of item, in the system's words (the numbers carry the meaning).
SCALE_LEGEND = {
    4: _("1 = not at all … 4 = very much"),
    7: _("1 = very poor … 7 = excellent"),
}


@dataclass
class LicensedText:
    items: dict[int, str] = field(default_factory=dict)
    headings: dict[int, str] = field(default_factory=dict)


@cache
def _read(path: Path, mtime_ns: int) -> LicensedText:
    data = json.loads(path.read_text(encoding="utf-8"))
    return LicensedText(
        items={int(k): str(v) for k, v in (data.get("items") or {}).items()},
        headings={int(str(k).lstrip("q")): str(v) for k, v in (data.get("headings") or {}).items()},
    )


def licensed_text() -> LicensedText:
    """The licensed item texts and headings, or none when no licence text file is installed."""
    name = getattr(settings, "EORTC_ITEM_TEXT_FILE", "")
    if not name:
        return LicensedText()
    path = Path(name)
    try:
        return _read(path, path.stat().st_mtime_ns)
    except (OSError, ValueError, AttributeError) as error:
        # A missing or malformed licence file must not stop data entry: the paper form carries the
        # item numbers, so the form falls back to them, and the misconfiguration is logged.
        logger.warning("EORTC item text file %s not used: %s", path, error)
        return LicensedText()


def item_number(field_name: str) -> int | None:
    """12 for "q12"; None for a field that is not a questionnaire item."""
    if field_name[:1] == "q" and field_name[1:].isdigit():
        return int(field_name[1:])
    return None


@dataclass
class PaperRow:
    item: int
    text: str
    field: object  # the bound form field
    queries: list
    options: list[tuple[str, str, bool]]  # (value, id, checked)


@dataclass
class PaperSection:
    title: str
    heading: str  # the licensed heading, "" without a licence text file
    legend: str
    answers: list[str]  # the column headings: "1" … "4" or "1" … "7"
    rows: list[PaperRow] = field(default_factory=list)
    fields: list = field(default_factory=list)  # a section of ordinary fields (the date)

    @property
    def is_items(self) -> bool:
        return bool(self.rows)


def paper_sections(form, sections) -> list[PaperSection]:
    """The form's sections (``form.sections()``) with the questionnaire's items as paper rows."""
    text = licensed_text()
    out = []
    for title, fields in sections:
        items = [item_number(bound.name) for bound, _q, _s in fields]
        if None in items:
            out.append(PaperSection(str(title), "", "", [], fields=fields))
            continue
        high = item_range(items[0])[1]
        section = PaperSection(
            str(title),
            text.headings.get(items[0], ""),
            str(SCALE_LEGEND[high]),
            [str(v) for v in range(1, high + 1)],
        )
        for (bound, queries, _shown), item in zip(fields, items, strict=True):
            value = "" if bound.value() in (None, "") else str(bound.value())
            options = [
                (answer, f"{bound.auto_id}_{index}", answer == value) for index, answer in enumerate(section.answers)
            ]
            section.rows.append(PaperRow(item, text.items.get(item, ""), bound, queries, options))
        out.append(section)
    return out
