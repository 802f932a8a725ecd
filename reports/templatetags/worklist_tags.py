"""The record status grid's cells, rendered in Python.

A page of the grid holds about a thousand form links; rendering them through nested template
loops took longer than reading them, so each cell is one format_html call.
"""

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from reports.worklists import OPEN_QUERY, STATE_GLYPHS, STATE_LABELS

register = template.Library()


def _form_link(form: dict) -> str:
    label = f"{form['title']}: {STATE_LABELS[form['state']]}"
    marker = ""
    if form["queries"]:
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
    return format_html_join("", "{}", ((_form_link(f),) for f in cell.forms))
