"""The record status grid's cells, rendered in Python.

A page of the grid holds about a thousand form links; rendering them through nested template
loops took longer than reading them, so each cell is built here. A link's markup but its address
depends only on the form, its state and the language, so that part is escaped once and kept
(``_link_head``): format_html on every link was a third of the page's time (bench/RESULTS.md).
"""

import functools

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from crf.registry import FORMS
from reports.worklists import OPEN_QUERY, STATE_GLYPHS, STATE_LABELS

register = template.Library()


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


@register.simple_tag
def grid_cell(cell, visit_label: str = ""):
    if cell.visit is None:
        return format_html('<span class="text-body-secondary" title="{}">·</span>', _("No such visit in this arm"))
    if not cell.forms:
        return format_html(
            '<a class="grid-visit grid-visit-{}" href="{}" title="{}">{}</a>',
            cell.state,
            cell.url,
            f"{visit_label or cell.visit.label}: {cell.visit.get_state_display()}",
            {"upcoming": "–", "missed": _("missed"), "not_applicable": _("n/a")}.get(cell.state, "–"),
        )
    # Every part is escaped above (format_html or escape): the joined links are safe.
    return mark_safe("".join(_form_link(f) for f in cell.forms))  # noqa: S308


@register.simple_tag
def grid_body(rows):
    """The grid's table rows: the patient header, a cell per scheduled visit, the unscheduled
    visits. Built here for the reason above: 25 rows of some 17 cells through template loops and
    one tag call per cell cost more than building the cells themselves."""
    arm_label = _("Arm")
    html = []
    for row in rows:
        patient = row.patient
        arm = getattr(patient, "arm", "") or ""
        badge = (
            format_html(' <span class="badge arm-{}" title="{} {}">{}</span>', arm, arm_label, arm, arm) if arm else ""
        )
        html.append(
            format_html(
                '<tr><th scope="row" class="text-nowrap"><a href="{}">{}</a>{}</th>',
                patient.get_absolute_url(),
                patient.trial_number,
                badge,
            )
        )
        html.extend(f'<td class="grid-cell">{grid_cell(cell)}</td>' for cell in row.cells)
        extra = "".join(
            format_html('<span class="d-block"><a href="{}">{}</a> {}</span>', c.url, c.visit.code, grid_cell(c))
            for c in row.unscheduled
        )
        html.append(f'<td class="grid-cell">{extra}</td></tr>')
    # Every value above went through format_html or grid_cell (escaped): the markup is safe.
    return mark_safe("".join(html))  # noqa: S308
