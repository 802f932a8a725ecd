import zipfile

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import AuditEvent, User
from accounts.services import user_deactivate
from core.audit import audit_event_record
from core.errors import DomainError
from core.exports import csv_bytes
from core.forms import posted_text
from core.paging import paginate
from core.permissions import action_required
from core.policy import Action, can, deny_unless
from core.sorting import Column, sorting
from crf.models import DatasetLock
from crf.selectors import visits_due_queries
from crf.services import casebook_digest
from patients.access import access_patient
from safety.access import access_sae

from . import locking
from .access import access_generated_file
from .dashboards import cached
from .dataset import export_subject
from .models import GeneratedFile
from .selectors import access_review_rows
from .services import generated_file_request


class DeactivateForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)


@login_required
def generated_file_detail(request, file_id):
    generated = access_generated_file(user=request.user, file_id=file_id)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"status": generated.status, "progress": generated.progress})
    return render(
        request, "reports/generated_file.html", {"generated": generated, "members": _archive_members(generated)}
    )


def _archive_members(generated) -> list[tuple[str, int]]:
    """(name, size) of each file inside a finished ZIP export, for the page to say what it holds."""
    if generated.status != GeneratedFile.Status.DONE or not generated.filename.lower().endswith(".zip"):
        return []
    try:
        with generated.file.open("rb") as handle, zipfile.ZipFile(handle) as archive:
            return [(info.filename, info.file_size) for info in archive.infolist() if not info.is_dir()]
    except (OSError, zipfile.BadZipFile):
        return []


@login_required
def generated_file_download(request, file_id):
    generated = access_generated_file(user=request.user, file_id=file_id)
    if generated.status != GeneratedFile.Status.DONE:
        raise Http404
    audit_event_record(
        kind=AuditEvent.Kind.EXPORTED,
        actor=request.user,
        target=generated,
        site_code=generated.site.code if generated.site_id else "",
        summary=f"Downloaded {generated.filename}",
        detail={"sha256": generated.sha256},
    )
    return FileResponse(generated.file.open("rb"), as_attachment=True, filename=generated.filename)


@require_POST
@action_required(Action.BLANK_CRF_BOOK)
def blank_crf_book_request(request):
    generated = generated_file_request(kind=GeneratedFile.Kind.BLANK_CRF_BOOK, actor=request.user)
    return redirect("reports:generated_file", file_id=generated.pk)


@action_required(Action.ACCESS_REVIEW)
def access_review(request):
    rows = access_review_rows()
    if request.GET.get("format") == "csv":
        audit_event_record(kind=AuditEvent.Kind.EXPORTED, actor=request.user, summary="Access review CSV downloaded")
        body = csv_bytes(
            [
                "username",
                "full_name",
                "email",
                "active",
                "trial_role",
                "site_roles",
                "last_login",
                "two_factor",
                "two_factor_required",
                "unused_90_days",
            ],
            (
                [
                    r.user.username,
                    r.user.full_name,
                    r.user.email,
                    r.user.is_active,
                    r.user.get_trial_role_display(),
                    "; ".join(r.site_roles),
                    r.user.last_login.isoformat() if r.user.last_login else "never",
                    r.two_factor,
                    r.two_factor_required,
                    r.unused,
                ]
                for r in rows
            ),
        )
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="nelmas-access-review.csv"'
        return response
    return render(request, "reports/access_review.html", {"rows": rows, "form": DeactivateForm()})


@require_POST
@action_required(Action.ACCOUNT_DEACTIVATE)
def account_deactivate(request, username):
    user = get_object_or_404(User, username=username)
    form = DeactivateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give a reason for deactivating %(u)s.") % {"u": user.username})
    else:
        try:
            user_deactivate(actor=request.user, user=user, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("%(u)s deactivated; their delegations end today. Their records and signatures remain.")
                % {"u": user.full_name},
            )
    return redirect("reports:access_review")


@require_POST
@login_required
def casebook_pdf_request(request, trial_number):
    """The patient's casebook PDF: the latest one if the data have not changed since, else a new one."""
    patient = access_patient(user=request.user, trial_number=trial_number)
    digest, _count = casebook_digest(patient)
    current = (
        GeneratedFile.objects.filter(
            kind=GeneratedFile.Kind.CASEBOOK, subject=patient.trial_number, source_digest=digest
        )
        .exclude(status=GeneratedFile.Status.FAILED)
        .order_by("-pk")
        .first()
    )
    if current is None:
        current = generated_file_request(
            kind=GeneratedFile.Kind.CASEBOOK, actor=request.user, subject=patient.trial_number, site=patient.site
        )
    return redirect("reports:generated_file", file_id=current.pk)


@require_POST
@login_required
def sae_pdf_request(request, report_id):
    report = access_sae(user=request.user, report_id=report_id)
    generated = generated_file_request(
        kind=GeneratedFile.Kind.SAE_REPORT, actor=request.user, subject=str(report.pk), site=report.patient.site
    )
    return redirect("reports:generated_file", file_id=generated.pk)


def _dashboard(request, name: str):
    """A dashboard page: its figures for the user's scope, from the minute's cache unless refreshed."""
    figures, computed_at = cached(name, user=request.user, refresh=request.GET.get("refresh") == "1")
    return render(request, f"reports/{name.replace('-', '_')}.html", {"d": figures, "computed_at": computed_at})


@action_required(Action.DASHBOARD_RECRUITMENT)
def recruitment_dashboard(request):
    return _dashboard(request, "recruitment")


@action_required(Action.DASHBOARD_DATA_QUALITY)
def data_quality_dashboard(request):
    return _dashboard(request, "data-quality")


# Approving an unlock: the page's own action; reports.locking.dataset_unlock_approve checks the approver
# (a trial manager or statistician, not the one who asked).
DATASET_ACTIONS = {
    "lock": Action.DATASET_LOCK,
    "unlock": Action.DATASET_UNLOCK,
    "approve_unlock": Action.DATASET_VIEW,
    "export": Action.EXPORT,
}


@action_required(Action.DATASET_VIEW)
def dataset_page(request):
    """The pre-lock checklist, the lock, the unlock (asked by the data manager, approved by a trial
    manager or the statistician) and exports (data manager)."""
    if request.method == "POST":
        action = request.POST.get("action")
        deny_unless(request.user, DATASET_ACTIONS.get(action, Action.DATASET_LOCK))
        try:
            if action == "lock":
                locking.dataset_lock(
                    actor=request.user,
                    reason=posted_text(request, "reason"),
                    kind=request.POST.get("kind", DatasetLock.Kind.INTERIM),
                    hard=request.POST.get("hard") == "on",
                )
                messages.success(request, _("Dataset locked."))
            elif action == "unlock":
                locking.dataset_unlock_request(actor=request.user, reason=posted_text(request, "reason"))
                messages.success(request, _("Unlock asked for: a trial manager or the statistician approves it."))
            elif action == "approve_unlock":
                locking.dataset_unlock_approve(actor=request.user, reason=posted_text(request, "reason"))
                messages.success(request, _("Dataset unlocked."))
            elif action == "export":
                generated = generated_file_request(
                    kind=GeneratedFile.Kind.DATASET_EXPORT,
                    actor=request.user,
                    subject=export_subject(DatasetLock.current()),
                )
                return redirect("reports:generated_file", file_id=generated.pk)
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("reports:dataset")
    return render(
        request,
        "reports/dataset.html",
        {
            "checklist": locking.prelock_checklist(),
            "current": DatasetLock.current(),
            "locks": DatasetLock.objects.select_related("locked_by", "unlocked_by", "unlock_requested_by")[:20],
            "kinds": DatasetLock.Kind.choices,
            "is_data_manager": can(request.user, Action.DATASET_LOCK),
            "can_approve_unlock": can(request.user, Action.DATASET_UNLOCK_APPROVE),
        },
    )


@action_required(Action.TRIAL_DATA_VIEW)
def overdue_visits(request):
    """Visits overdue (or, with ``when=week``, due within seven days) on the sites the user may see:
    the list behind the data-quality dashboard's figure and the nurse's home, in pages."""
    user = request.user
    when = "week" if request.GET.get("when") == "week" else "overdue"
    visits = visits_due_queries(user=user)[when]
    if request.GET.get("site"):
        visits = visits.filter(patient__site__code=request.GET["site"])
    columns = [
        Column(_("Site"), "site", ("patient__site__code", "window_end", "pk")),
        Column(_("Patient"), "patient", ("patient__trial_number", "window_end", "pk")),
        Column(_("Visit")),
        Column(_("Window closes") if when == "week" else _("Window closed"), "window", ("window_end", "pk")),
    ]
    sort = sorting(request, columns)  # without ?sort=: the nearest deadline first
    if sort.key:
        visits = visits.order_by(*sort.order_by(columns))
    paging = paginate(request, visits)
    return render(
        request,
        "reports/overdue_visits.html",
        {
            **paging,
            "visits": paging["page"].object_list,
            "site": request.GET.get("site", ""),
            "when": when,
            "sort_headers": sort.headers,
        },
    )
