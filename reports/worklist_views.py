"""Work-list pages that read across the CRFs: the record status grid and the SDV queue."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import verification
from core.paging import paginate
from core.permissions import action_required
from core.policy import Action, can, deny_unless
from core.sorting import Column, sorting
from crf.registry import FORMS
from randomisation.models import Arm
from sites.models import Site

from . import grid_html, role_queues, worklists

# Patients a page of the grid: about a thousand form links, still one screen's scroll per page.
GRID_PER_PAGE = 25


@action_required(Action.RECORD_STATUS_VIEW)
def record_status_grid(request):
    """Patients × visits, each cell the visit's forms with their status (REDCap's record status
    dashboard), filterable by site, arm and status, in pages; a click opens any form."""
    user = request.user
    site, arm, status = request.GET.get("site", ""), request.GET.get("arm", ""), request.GET.get("status", "")
    sites = list(Site.objects.visible_to(user).order_by("code"))
    if site not in {s.code for s in sites}:
        site = ""  # another site's code filters nothing in: it must not tell that the site exists
    if arm not in Arm.values:
        arm = ""
    if status not in worklists.STATE_LABELS:
        status = ""
    paging = paginate(
        request, worklists.grid_patients(user=user, site=site, arm=arm, status=status), per_page=GRID_PER_PAGE
    )
    return render(
        request,
        "reports/record_status_grid.html",
        {
            **paging,
            "rows": grid_html.grid_body(list(paging["page"].object_list)),
            "columns": worklists.grid_columns(),
            "legend": worklists.CELL_STATES,
            "sites": sites,
            "arms": Arm.choices,
            "site": site,
            "arm": arm,
            "status": status,
        },
    )


# The queue is a UNION over the CRF tables: it sorts by the columns the union selects. Oldest save
# first by default: the form waiting longest.
SDV_COLUMNS = [
    Column(_("Site")),
    Column(_("Patient"), "patient", ("patient_id", "form_code", "id")),
    Column(_("Visit"), "visit", ("visit_id", "form_code", "id")),
    Column(_("Form"), "form", ("form_code", "updated_at", "id")),
    Column(_("Status"), "status", ("status", "updated_at", "form_code", "id")),
    Column(_("SDV plan")),
    Column(_("Last saved"), "saved", ("updated_at", "form_code", "id")),
]


@action_required(Action.SDV_QUEUE_VIEW)
def sdv_queue(request):
    """Forms awaiting source data verification, and forms changed since verified, oldest first,
    filterable by site and form; each links to its form, and back here after verifying."""
    user = request.user
    kind = request.GET.get("kind", worklists.SDV_AWAITING)
    if kind not in dict(worklists.SDV_KINDS):
        kind = worklists.SDV_AWAITING
    sites = list(Site.objects.visible_to(user).order_by("code"))
    site = request.GET.get("site", "")
    if site not in {s.code for s in sites}:
        site = ""
    form_code = request.GET.get("form", "")
    if form_code not in FORMS:
        form_code = ""
    sort = sorting(request, SDV_COLUMNS, "saved")
    rows = worklists.sdv_forms(user=user, kind=kind, site=site, form_code=form_code)
    paging = paginate(request, rows.order_by(*sort.order_by(SDV_COLUMNS)))
    return render(
        request,
        "reports/sdv_queue.html",
        {
            **paging,
            "rows": worklists.sdv_rows(list(paging["page"].object_list)),
            "kind": kind,
            "kinds": worklists.SDV_KINDS,
            "sites": sites,
            "site": site,
            "form_code": form_code,
            "forms": [(code, model.FORM_TITLE) for code, model in FORMS.items()],
            "here": request.get_full_path(),
            "is_monitor": can(user, Action.SDV),
            "sort_headers": sort.headers,
        },
    )


@action_required(Action.SDV_QUEUE_VIEW)
def sdv_records_queue(request):
    """Consent, eligibility and SAE records for SDV (the plan covers them in full), filterable by
    kind, site and status; each row links to its record's page and, for the monitor, verifies."""
    user = request.user
    kind = request.GET.get("kind", "")
    if kind not in verification.KINDS:
        kind = ""
    status = request.GET.get("status", verification.AWAITING)
    if status not in dict(verification.STATUSES):
        status = verification.AWAITING
    sites = list(Site.objects.visible_to(user).order_by("code"))
    site = request.GET.get("site", "")
    if site not in {s.code for s in sites}:
        site = ""
    paging = paginate(request, worklists.sdv_records(user=user, kind=kind, site=site, status=status))
    return render(
        request,
        "reports/sdv_records.html",
        {
            **paging,
            "rows": worklists.sdv_record_rows(list(paging["page"].object_list), status=status),
            "counts": worklists.sdv_record_counts(user=user, site=site),
            "kinds": [(code, k.label) for code, k in verification.KINDS.items()],
            "statuses": verification.STATUSES,
            "kind": kind,
            "status": status,
            "sites": sites,
            "site": site,
            "here": request.get_full_path(),
            "is_monitor": can(user, Action.SDV),
        },
    )


@login_required
def role_worklist(request, kind):
    """One role's work list behind its home count (reports.role_queues): the same queryset the
    count is taken from, sorted by a whitelisted column and paged."""
    worklist = role_queues.WORK_LISTS.get(kind)
    if worklist is None:
        raise Http404
    deny_unless(request.user, worklist.action)
    now = timezone.now()
    sort = sorting(request, worklist.columns, worklist.default_sort)
    paging = paginate(request, worklist.rows(request.user, now).order_by(*sort.order_by(worklist.columns)))
    today = timezone.localdate(now)
    return render(
        request,
        "reports/role_worklist.html",
        {
            **paging,
            "worklist": worklist,
            "sort_headers": sort.headers,
            "rows": [(worklist.url(obj), worklist.cells(obj, today)) for obj in paging["page"].object_list],
        },
    )
