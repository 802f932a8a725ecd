import hashlib

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import AuditEvent
from core.audit import audit_event_record
from core.documents import render_pdf
from core.errors import DomainError, EditConflict
from core.exports import csv_bytes
from core.forms import form_add_domain_error, posted_version
from core.permissions import action_required, client_ip
from core.policy import Action, Allowed, can, deny_unless
from core.signatures import signature_identity_needed, signature_session_mark, signature_status
from core.verification import verification_state
from core.views import render_history, verify_record
from patients.access import access_patient
from sites.forms import DateInput
from sites.models import Site

from . import selectors, services
from .access import access_ae, access_sae
from .forms import (
    AdverseEventForm,
    AssessmentForm,
    CodingForm,
    RsiForm,
    SaeReportForm,
    SponsorReviewForm,
    SubmissionForm,
    TimelinesForm,
)
from .models import AdverseEvent, Causality, ReferenceSafetyInformation, ReportingTimelines
from .terms import ctcae_terms, trial_common_terms

# Trial-wide roles that read the trial's SUSAR/SAE line listings (DSUR, DMC) and the timelines.


def _ae_fields():
    return list(AdverseEventForm.Meta.fields)


@login_required
def ae_form(request, trial_number, ae_id=None, coding_form=None):
    patient = access_patient(user=request.user, trial_number=trial_number)
    instance = access_ae(user=request.user, trial_number=trial_number, ae_id=ae_id) if ae_id else None
    is_site_staff = can(request.user, Action.AE_REPORT, patient.site)
    if request.method == "POST" and coding_form is None:
        deny_unless(request.user, Action.AE_REPORT, patient.site)
    bound = AdverseEvent.objects.get(pk=instance.pk) if instance else None
    posted = request.POST if request.method == "POST" and coding_form is None else None
    form = AdverseEventForm(posted, instance=bound, tz_name=patient.site.timezone)
    if posted is not None and form.is_valid():
        data = {n: form.cleaned_data[n] for n in _ae_fields()}
        had_report = bool(instance and instance.sae_reports.exists())
        if instance:
            data = {n: v for n, v in data.items() if getattr(instance, n) != v}
        try:
            ae = services.ae_save(
                patient=patient,
                data=data,
                actor=request.user,
                instance=instance,
                reason=form.cleaned_data["reason"],
                expected_version=posted_version(request) if instance else None,
            )
        except services.AeInvalid as exc:
            for field, message in exc.errors:
                form.add_error(field if field in form.fields else None, message)
        except EditConflict as exc:
            form.add_error(None, exc.message)
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            report = ae.sae_reports.filter(number=0).first()
            if report and not had_report:
                messages.warning(
                    request,
                    _("Serious: an SAE report is open. Report it to the sponsor within 24 hours of awareness."),
                )
                return redirect("safety:sae_detail", report_id=report.pk)
            messages.success(request, _("Adverse event saved."))
            return redirect("safety:ae_list", trial_number=trial_number)
    return render(
        request,
        "safety/ae_form.html",
        {
            "patient": patient,
            "form": form,
            "instance": instance,
            "is_site_staff": is_site_staff,
            "death_record_missing": instance and services.death_record_missing(instance),
            "ctcae_terms": _term_choices(),
            "can_code": bool(instance) and can(request.user, Action.MEDDRA_CODE, patient.site),
            "coding_form": coding_form or CodingForm(initial=_coding_initial(instance)),
        },
    )


def _term_choices() -> list[tuple[str, str]]:
    """(term, label) for the term picker: the trial's common terms first, then NCI's full list."""
    common = trial_common_terms()
    first = [(t.term, _("Common in this trial · %(soc)s") % {"soc": t.soc}) for t in common]
    names = {t.term for t in common}
    rest = sorted((t.term, t.soc) for t in ctcae_terms().values() if t.term not in names)
    return first + rest


def _coding_initial(ae):
    if ae is None:
        return {}
    return {n: getattr(ae, n) for n in ("meddra_llt_code", "meddra_pt_code", "meddra_version")}


@require_POST
@login_required
def ae_code(request, trial_number, ae_id):
    """The medical coder's MedDRA codes for an AE."""
    ae = access_ae(user=request.user, trial_number=trial_number, ae_id=ae_id)
    deny_unless(request.user, Action.MEDDRA_CODE, ae.patient.site)
    form = CodingForm(request.POST)
    if form.is_valid():
        try:
            services.ae_code(
                ae=ae,
                actor=request.user,
                llt_code=form.cleaned_data["meddra_llt_code"],
                pt_code=form.cleaned_data["meddra_pt_code"],
                version=form.cleaned_data["meddra_version"],
                reason=form.cleaned_data["reason"],
            )
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Coding saved."))
            return redirect("safety:ae_edit", trial_number=trial_number, ae_id=ae.pk)
    return ae_form(request, trial_number, ae_id, coding_form=form)


@login_required
def coding_list(request):
    """The medical coder's worklist: AEs to code in MedDRA, and the last ones coded."""
    deny_unless(request.user, Action.MEDDRA_CODE)
    return render(
        request,
        "safety/coding_list.html",
        {
            "to_code": selectors.coding_worklist(user=request.user)[:200],
            "coded": selectors.coding_worklist(user=request.user, coded=True)[:50],
        },
    )


@login_required
def ae_list(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    events = patient.adverse_events.filter(retired_at__isnull=True).prefetch_related("sae_reports")
    return render(
        request,
        "safety/ae_list.html",
        {"patient": patient, "events": events, "may": Allowed(request.user, patient.site)},
    )


@login_required
def ae_history(request, trial_number, ae_id):
    ae = access_ae(user=request.user, trial_number=trial_number, ae_id=ae_id)
    return render_history(
        request,
        ae,
        title=str(ae),
        timezone_name=ae.patient.site.timezone,
        back_url=reverse("safety:ae_edit", args=[trial_number, ae_id]),
    )


def _sae_page(request, report, *, form=None, assessment_form=None):
    patient = report.patient
    ae = report.adverse_event
    signatures = signature_status(obj=report)
    return render(
        request,
        "safety/sae_detail.html",
        {
            "report": report,
            "ae": ae,
            "patient": patient,
            "form": form or SaeReportForm(instance=type(report).objects.get(pk=report.pk)),
            "clocks": selectors.sae_clocks(report),
            "signatures": signatures,
            "signed": any(v for _s, v in signatures),
            # Button flags, each read from the permission policy for this report's site.
            "is_site_staff": can(request.user, Action.AE_REPORT, patient.site),
            "can_sign": can(request.user, Action.SAE_ASSESS_SIGN, patient.site),
            "can_review": can(request.user, Action.SPONSOR_REVIEW, patient.site),
            "assessment_form": assessment_form
            or AssessmentForm(identity_needed=signature_identity_needed(request.session)),
            "assessment_rows": selectors.assessment_rows(report),
            "causality_disagrees": services.causality_disagrees(report),
            "minimum_missing": services.minimum_criteria_missing(report),
            "review_form": SponsorReviewForm(),
            "submission_form": SubmissionForm(),
            "rsi": report.rsi or ReferenceSafetyInformation.at_onset(ae.onset_date),
            "death_record_missing": services.death_record_missing(ae),
            "others": ae.sae_reports.exclude(pk=report.pk),
            "sdv": verification_state(record=report, user=request.user),
        },
    )


@require_POST
@login_required
def sae_verify(request, report_id):
    report = access_sae(user=request.user, report_id=report_id)
    return verify_record(request, report, back_url=reverse("safety:sae_detail", args=[report.pk]))


@login_required
def sae_detail(request, report_id):
    report = access_sae(user=request.user, report_id=report_id)
    form = SaeReportForm(request.POST or None, instance=type(report).objects.get(pk=report.pk))
    if request.method == "POST":
        deny_unless(request.user, Action.AE_REPORT, report.patient.site)
        if form.is_valid():
            data = {
                n: form.cleaned_data[n] for n in SaeReportForm.Meta.fields if getattr(report, n) != form.cleaned_data[n]
            }
            try:
                services.sae_update(
                    report=report,
                    data=data,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    expected_version=posted_version(request),
                )
            except DomainError as exc:
                form_add_domain_error(form, exc)
            else:
                messages.success(request, _("SAE report saved."))
                return redirect("safety:sae_detail", report_id=report.pk)
    return _sae_page(request, report, form=form)


@require_POST
@login_required
def sae_sign(request, report_id):
    """A refused signature or a missing answer shows the page again with everything the PI chose
    and typed, and the error beside the field concerned (the password is never echoed)."""
    report = access_sae(user=request.user, report_id=report_id)
    deny_unless(request.user, Action.SAE_ASSESS_SIGN, report.patient.site)
    form = AssessmentForm(request.POST, identity_needed=signature_identity_needed(request.session))
    if form.is_valid():
        assessment = {k: form.cleaned_data[k] for k in (*services.ASSESSMENT_FIELDS, "pi_comment")}
        try:
            services.sae_sign(
                report=report,
                actor=request.user,
                password=form.cleaned_data["password"],
                otp_token=form.cleaned_data["otp_token"],
                assessment=assessment,
                ip_address=client_ip(request),
                username=form.cleaned_data.get("username"),
            )
        except services.AssessmentInvalid as exc:
            for field, message in exc.errors:
                form.add_error(field, message)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            signature_session_mark(request.session)
            messages.success(request, _("Assessment signed."))
            return redirect("safety:sae_detail", report_id=report.pk)
    report = access_sae(user=request.user, report_id=report_id)
    return _sae_page(request, report, assessment_form=form)


SAE_ACTIONS = {
    "submit": Action.AE_REPORT,
    "review": Action.SPONSOR_REVIEW,
    "submitted": Action.SUSAR_SUBMISSION_RECORD,
    "follow_up": Action.AE_REPORT,
}


@require_POST
@login_required
def sae_action(request, report_id, action):
    report = access_sae(user=request.user, report_id=report_id)
    if action not in SAE_ACTIONS:
        raise PermissionDenied
    deny_unless(request.user, SAE_ACTIONS[action], report.patient.site)
    try:
        if action == "submit":
            services.sae_submit(report=report, actor=request.user)
            messages.success(request, _("Sent to the sponsor."))
        elif action == "review":
            form = SponsorReviewForm(request.POST)
            if not form.is_valid():
                raise DomainError(_("Give the sponsor's causality and expectedness."))
            services.sponsor_review(report=report, actor=request.user, **form.cleaned_data)
            messages.success(request, _("Sponsor review saved."))
        elif action == "submitted":
            form = SubmissionForm(request.POST)
            if not form.is_valid():
                raise DomainError(_("Check the dates."))
            services.susar_reported(report=report, actor=request.user, **form.cleaned_data)
            messages.success(request, _("Submission recorded."))
        elif action == "follow_up":
            follow = services.sae_follow_up(report=report, actor=request.user)
            messages.success(request, _("Follow-up report %(n)s opened.") % {"n": follow.number})
            return redirect("safety:sae_detail", report_id=follow.pk)
        else:
            raise PermissionDenied
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("safety:sae_detail", report_id=report.pk)


@login_required
def sae_history(request, report_id):
    report = access_sae(user=request.user, report_id=report_id)
    return render_history(
        request,
        report,
        title=str(report),
        timezone_name=report.patient.site.timezone,
        back_url=reverse("safety:sae_detail", args=[report.pk]),
    )


@action_required(Action.TRIAL_DATA_VIEW)
def sae_list(request):
    reports = list(selectors.sae_list(user=request.user).filter(retired_at__isnull=True))
    now = timezone.now()
    rows = [(r, selectors.sae_clocks(r, now)) for r in reports]
    rows.sort(key=lambda row: (not any(c["state"] == "overdue" for c in row[1]), row[0].due_at))
    can_line_list = can(request.user, Action.LINE_LISTING)
    can_code = can(request.user, Action.MEDDRA_CODE)
    return render(request, "safety/sae_list.html", {"rows": rows, "can_line_list": can_line_list, "can_code": can_code})


@login_required
def listing(request):
    user = request.user
    deny_unless(user, Action.TRIAL_DATA_VIEW)
    params = {k: request.GET.get(k, "") for k in ("site", "arm", "grade", "causality")}
    events = selectors.ae_listing(user=user, **params)
    rows = selectors.listing_rows(events)
    if request.GET.get("format") == "csv":
        audit_event_record(
            kind=AuditEvent.Kind.EXPORTED, actor=user, summary=f"AE listing CSV ({len(rows)} rows)", detail=params
        )
        body = csv_bytes(
            [label for _k, label in selectors.LISTING_COLUMNS],
            ([row[k] for k, _l in selectors.LISTING_COLUMNS] for row in rows),
        )
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="nelmas-ae-listing.csv"'
        return response
    return render(
        request,
        "safety/listing.html",
        {
            "rows": rows,
            "columns": selectors.LISTING_COLUMNS,
            "params": params,
            "sites": Site.objects.visible_to(user),
            "causalities": Causality.choices,
        },
    )


@action_required(Action.RSI_VIEW)
def rsi_list(request):
    form = RsiForm(request.POST or None)
    if request.method == "POST":
        deny_unless(request.user, Action.RSI_MANAGE)
        if form.is_valid():
            try:
                services.rsi_add(actor=request.user, data=form.cleaned_data)
            except DomainError as exc:
                form_add_domain_error(form, exc)
            else:
                messages.success(request, _("RSI version added."))
                return redirect("safety:rsi_list")
    return render(
        request,
        "safety/rsi_list.html",
        {
            "versions": ReferenceSafetyInformation.objects.all(),
            "in_force": ReferenceSafetyInformation.in_force(),
            "form": form,
            "can_add": can(request.user, Action.RSI_MANAGE),
        },
    )


class LineListingForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Cases"), choices=[("susar", _("SUSARs")), ("sae", _("All SAEs"))], initial="susar"
    )
    start = forms.DateField(label=_("From (sponsor day 0)"), widget=DateInput())
    end = forms.DateField(label=_("To"), widget=DateInput())

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", _("The period ends before it starts."))
        return data


@action_required(Action.LINE_LISTING)
def line_listing(request):
    """SUSAR and SAE line listings of a period for the DSUR and the DMC (CSV and PDF). Trial-wide
    roles only: a site's PI reads their own SAEs on the SAE list, not the trial's listing."""
    form = LineListingForm(request.GET or None)
    rows = None
    if form.is_valid():
        start, end, kind = form.cleaned_data["start"], form.cleaned_data["end"], form.cleaned_data["kind"]
        rows = selectors.safety_line_listing(start=start, end=end, susars_only=kind == "susar")
        versions = sorted({r["rsi_version"] for r in rows})
        title = f"{'SUSAR' if kind == 'susar' else 'SAE'} line listing {start:%d %b %Y} – {end:%d %b %Y}"
        wanted = request.GET.get("format")
        if wanted in ("csv", "pdf"):
            if wanted == "csv":
                body = csv_bytes(
                    [label for _k, label in selectors.SAFETY_LISTING_COLUMNS],
                    ([row[k] for k, _l in selectors.SAFETY_LISTING_COLUMNS] for row in rows),
                )
                content_type = "text/csv; charset=utf-8"
            else:
                context = {
                    "title": title,
                    "rows": rows,
                    "columns": selectors.SAFETY_LISTING_COLUMNS,
                    "rsi_versions": versions,
                }
                body = render_pdf("pdf/safety_line_listing.html", context).content
                content_type = "application/pdf"
            digest = hashlib.sha256(body).hexdigest()
            audit_event_record(
                kind=AuditEvent.Kind.EXPORTED,
                actor=request.user,
                summary=f"{title} ({wanted.upper()}, {len(rows)} cases)",
                detail={"start": start.isoformat(), "end": end.isoformat(), "kind": kind, "sha256": digest},
            )
            response = HttpResponse(body, content_type=content_type)
            response["Content-Disposition"] = f'attachment; filename="nelmas-{kind}-listing-{start}-{end}.{wanted}"'
            return response
        return render(
            request,
            "safety/line_listing.html",
            {"form": form, "rows": rows, "columns": selectors.SAFETY_LISTING_COLUMNS, "rsi_versions": versions},
        )
    return render(request, "safety/line_listing.html", {"form": form, "rows": rows})


@action_required(Action.LINE_LISTING)
def timelines(request):
    """The reporting timelines with their sources and history; the trial manager changes them."""
    current = ReportingTimelines.current()
    can_edit = can(request.user, Action.TIMELINES_MANAGE)
    form = TimelinesForm(request.POST or None, instance=ReportingTimelines.current())
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if form.is_valid():
            data = {n: form.cleaned_data[n] for n in services.TIMELINE_FIELDS}
            try:
                services.timelines_update(actor=request.user, data=data, reason=form.cleaned_data["reason"])
            except DomainError as exc:
                form_add_domain_error(form, exc)
            else:
                messages.success(request, _("Reporting timelines saved."))
                return redirect("safety:timelines")
    rows = [
        (
            ReportingTimelines._meta.get_field(name).verbose_name,
            getattr(current, name),
            ReportingTimelines.SOURCES[name],
        )
        for name in services.TIMELINE_FIELDS
    ]
    history = current.history.select_related("history_user").order_by("-history_date") if current.pk else []
    return render(
        request,
        "safety/timelines.html",
        {"rows": rows, "form": form, "can_edit": can_edit, "saved": bool(current.pk), "history": history},
    )
