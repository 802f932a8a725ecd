"""The record status grid's rows, rendered in Python and cached per patient.

A page of the grid holds about a thousand form links; rendering them through nested template
loops took longer than reading them, so each cell is built here. A link's markup but its address
depends only on the form, its state and the language, so that part is escaped once and kept
(``_link_head``): format_html on every link was a third of the page's time (bench/RESULTS.md).

Each patient's row is then kept in the cache under the patient's generation (core.site_cache),
which every save of a record the row is built from moves on (crf.receivers: visits, CRF forms,
forms not done, queries, consents, the patient), and under today's date (a visit's state follows
the calendar). A page whose patients have not changed since is then a page of patients and two
reads of the cache, not five queries and a thousand cells; a save rebuilds its patient's row only.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from core.site_cache import patient_generations
from crf.registry import FORMS
from patients.models import Patient
from reports.worklists import OPEN_QUERY, STATE_GLYPHS, STATE_LABELS, GridRow, grid_rows

# Bump when the row markup changes: rows cached by the previous release must not be shown.
ROW_VERSION = 2


@functools.cache
def _link_head(language: str, code: str, state: str) -> tuple[str, str]:
    """The escaped markup around a link's address: (before, after). ``language`` keys the cache:
    the form's title and the state's label are translated."""
    title = FORMS[code].FORM_TITLE
    before = f'<a class="grid-form grid-{escape(state)}" href="'
    after = (
        f'" title="{escape(f"{title}: {STATE_LABELS[state]}")}"><span aria-hidden="true">'
        f"{escape(STATE_GLYPHS[state])}</span></a>"
    )
    return before, after


def _form_link(form: dict) -> str:
    if not form["queries"]:
        before, after = _link_head(get_language(), form["code"], form["state"])
        return before + escape(form["url"]) + after
    label = f"{form['title']}: {STATE_LABELS[form['state']]}"
    label += " · " + (_("%(n)s open query") if form["queries"] == 1 else _("%(n)s open queries")) % {
        "n": form["queries"]
    }
    marker = format_html('<span class="grid-query" aria-hidden="true">{}</span>', STATE_GLYPHS[OPEN_QUERY])
    # The title is the link's accessible name (the glyph is hidden from screen readers): one copy
    # of the label per link keeps a page of a thousand links small.
    return format_html(
        '<a class="grid-form grid-{}" href="{}" title="{}"><span aria-hidden="true">{}</span>{}</a>',
        form["state"],
        form["url"],
        label,
        STATE_GLYPHS[form["state"]],
        marker,
    )


def grid_cell(cell):
    if cell.visit is None:
        return format_html('<span class="text-body-secondary" title="{}">·</span>', _("No such visit in this arm"))
    if not cell.forms:
        return format_html(
            '<a class="grid-visit grid-visit-{}" href="{}" title="{}">{}</a>',
            cell.state,
            cell.url,
            f"{cell.visit.label}: {cell.visit.get_state_display()}",
            {"upcoming": "–", "missed": _("missed"), "not_applicable": _("n/a")}.get(cell.state, "–"),
        )
    # Every part is escaped above (format_html or escape): the joined links are safe.
    return mark_safe("".join(_form_link(f) for f in cell.forms))  # noqa: S308


def row_html(row: GridRow) -> SafeString:
    """One patient's table row: the patient header, a cell per scheduled visit, the unscheduled
    visits. Built here for the reason above: 25 rows of some 17 cells through template loops and
    one tag call per cell cost more than building the cells themselves."""
    patient = row.patient
    arm = getattr(patient, "arm", "") or ""
    badge = format_html(' <span class="badge arm-{}" title="{} {}">{}</span>', arm, _("Arm"), arm, arm) if arm else ""
    html = [
        format_html(
            '<tr><th scope="row" class="text-nowrap"><a href="{}">{}</a>{}</th>',
            patient.get_absolute_url(),
            patient.trial_number,
            badge,
        )
    ]
    html.extend(f'<td class="grid-cell">{grid_cell(cell)}</td>' for cell in row.cells)
    extra = "".join(
        format_html('<span class="d-block"><a href="{}">{}</a> {}</span>', c.url, c.visit.code, grid_cell(c))
        for c in row.unscheduled
    )
    html.append(f'<td class="grid-cell">{extra}</td></tr>')
    # Every value above went through format_html or grid_cell (escaped): the markup is safe.
    return mark_safe("".join(html))  # noqa: S308


@dataclass
class RenderedRow:
    patient: Patient
    html: SafeString


def _row_key(patient: Patient, generation: int, today: dt.date, language: str) -> str:
    # The arm is in the key as well as the patient's generation: it comes from the page's query
    # (an annotation), and a row must never show another arm's badge.
    arm = getattr(patient, "arm", "") or ""
    return f"grid-row:{ROW_VERSION}:{language}:{today.isoformat()}:{patient.pk}-{generation}:{arm}"


def grid_body(patients: list[Patient], today: dt.date | None = None) -> list[RenderedRow]:
    """The rows of one page of the grid, from the cache where the patient has not changed since the
    row was rendered, built (in grid_rows' fixed number of queries) for the others."""
    today = today or timezone.localdate()
    language = get_language() or ""
    # The generations are read before the data: a save committing in between moves its patient's
    # generation past the one the freshly built row is stored under (core.site_cache).
    generations = patient_generations(p.pk for p in patients)
    keys = {p.pk: _row_key(p, generations[p.pk], today, language) for p in patients}
    cached = cache.get_many(list(keys.values())) if patients else {}
    missing = [p for p in patients if keys[p.pk] not in cached]
    built: dict[int, SafeString] = {}
    if missing:
        built = {row.patient.pk: row_html(row) for row in grid_rows(missing, today)}
        cache.set_many({keys[pk]: str(html) for pk, html in built.items()}, settings.SITE_FIGURES_SECONDS)
    return [
        RenderedRow(p, built[p.pk] if p.pk in built else mark_safe(cached[keys[p.pk]]))  # noqa: S308 - rendered above
        for p in patients
    ]
