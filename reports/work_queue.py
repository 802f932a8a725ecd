"""Each role's home as a work queue (Rave's and OpenClinica's task lists): counts of what waits for
the user, each linking to the list that holds exactly those items.

Every count is taken from the same queryset the linked page lists (crf.views.query_list,
reports.worklists.grid_patients and sdv_forms, reports.role_queues, crf.selectors.visits_due_queries,
sites.views.site_list), so a count and its list cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.policy import Action, can
from crf.models import FormStatus, Query
from crf.selectors import QUERY_AGES, queries_by_age, visits_due_queries
from sites.models import Site

from . import role_queues, worklists


@dataclass(frozen=True)
class QueueItem:
    label: str
    count: int
    url: str
    urgent: bool = False


def _url(name: str, **params) -> str:
    return f"{reverse(name)}?{urlencode(params)}" if params else reverse(name)


def _grid_item(user, label, status) -> QueueItem:
    count = worklists.grid_patients(user=user, status=status).count()
    return QueueItem(label, count, _url("reports:record_status_grid", status=status))


def _sdv_item(user, label, kind) -> QueueItem:
    return QueueItem(label, worklists.sdv_forms(user=user, kind=kind).count(), _url("reports:sdv_queue", kind=kind))


def _role_item(user, kind: str, now) -> QueueItem:
    worklist = role_queues.WORK_LISTS[kind]
    return QueueItem(
        worklist.label,
        worklist.rows(user, now).count(),
        reverse("reports:role_worklist", args=[kind]),
        urgent=worklist.urgent,
    )


def work_queue(user) -> list[QueueItem]:
    """What waits for ``user``, by role; empty for roles with no data work (statistician, administrator)."""
    items: list[QueueItem] = []
    visible_queries = Query.objects.visible_to(user)
    # Each section follows the action it is work for (core.policy), so a duty not delegated
    # brings no queue for it.
    now = timezone.now()
    # The investigator's signatures: eligibility, SAE assessments, casebooks (protocol "Locks and
    # sign-off", "Safety reporting").
    for action, kind in (
        (Action.ELIGIBILITY_CONFIRM, "eligibility"),
        (Action.SAE_ASSESS_SIGN, "saes-to-sign"),
        (Action.CASEBOOK_SIGN, "casebooks-to-sign"),
        (Action.CONSENT_RECORD, "reconsent"),
        (Action.AE_REPORT, "saes-to-report"),
    ):
        if can(user, action):
            items.append(_role_item(user, kind, now))
    if can(user, Action.CRF_ENTER):
        overdue = visits_due_queries(user=user)["overdue"].count()
        items.append(QueueItem(_("Overdue visits"), overdue, reverse("reports:overdue_visits"), urgent=True))
    if can(user, Action.QUERY_ANSWER):
        waiting = visible_queries.filter(status=Query.Status.OPEN).count()
        items.append(QueueItem(_("Queries waiting for your answer"), waiting, _url("crf:query_list", status="waiting")))
    if can(user, Action.CRF_ENTER):
        # Missing forms follow from the overdue visits already on the site's home; the count
        # over every visit of the site is left to the data manager's queue.
        items.append(_grid_item(user, _("Patients with forms in progress"), FormStatus.IN_PROGRESS))
    if can(user, Action.SDV):
        items += [
            _sdv_item(user, _("Forms awaiting source data verification"), worklists.SDV_AWAITING),
            _sdv_item(user, _("Forms changed since verified"), worklists.SDV_CHANGED),
        ]
    if can(user, Action.DATASET_VIEW):  # the data manager and trial manager, who chase lock blockers
        # The list's own filter (crf.views.query_list), one COUNT per band.
        ages = {age: queries_by_age(visible_queries.open(), age, now).count() for age in QUERY_AGES}
        items += [
            QueueItem(
                _("Open queries under 7 days old"), ages["new"], _url("crf:query_list", status="open", age="new")
            ),
            QueueItem(
                _("Open queries 7–30 days old"), ages["month"], _url("crf:query_list", status="open", age="month")
            ),
            QueueItem(
                _("Open queries over 30 days old"),
                ages["old"],
                _url("crf:query_list", status="open", age="old"),
                urgent=True,
            ),
            _grid_item(user, _("Patients with forms missing"), FormStatus.NOT_STARTED),
        ]
    if can(user, Action.FORM_LOCK):
        items.append(_sdv_item(user, _("Verified forms to lock"), worklists.SDV_LOCKABLE))
    if can(user, Action.SPONSOR_REVIEW):
        items.append(_role_item(user, "overdue-saes", now))
    if can(user, Action.SITE_ACTIVATE):
        pending = Site.objects.visible_to(user).filter(status=Site.Status.PENDING).count()
        items.append(QueueItem(_("Sites to activate"), pending, _url("sites:site_list", status=Site.Status.PENDING)))
        # The trial manager runs the sites, so recruitment against plan is theirs to chase.
        items.append(_role_item(user, "recruitment-behind", now))
    return items
