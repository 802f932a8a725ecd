from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.audit import audit_event_record
from accounts.errors import DomainError, EditConflict
from accounts.exports import csv_bytes
from accounts.forms import form_add_domain_error, posted_version
from accounts.models import AuditEvent
from accounts.permissions import client_ip, trial_role_required
from accounts.roles import INVESTIGATOR_ROLES, TrialRole
from accounts.signatures import signature_status
from accounts.views import render_history
from patients.access import access_patient
from sites.models import Site

from . import selectors, services
from .access import access_ae, access_sae
from .forms import AdverseEventForm, AssessmentForm, RsiForm, SaeReportForm, SponsorReviewForm, SubmissionForm
from .models import AdverseEvent, Causality, ReferenceSafetyInformation


def _ae_fields():
    return list(AdverseEventForm.Meta.fields)


@login_required
def ae_form(request, trial_number, ae_id=None):
    patient = access_patient(user=request.user, trial_number=trial_number)
    instance = access_ae(user=request.user, trial_number=trial_number, ae_id=ae_id) if ae_id else None
    is_site_staff = request.user.has_site_role(patient.site)
    if request.method == "POST" and not is_site_staff:
        raise PermissionDenied
    bound = AdverseEvent.objects.get(pk=instance.pk) if instance else None
    form = AdverseEventForm(request.POST or None, instance=bound, tz_name=patient.site.timezone)
    if request.method == "POST" and form.is_valid():
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
        },
    )


@login_required
def ae_list(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    events = patient.adverse_events.filter(retired_at__isnull=True).prefetch_related("sae_reports")
    return render(
        request,
        "safety/ae_list.html",
        {"patient": patient, "events": events, "is_site_staff": request.user.has_site_role(patient.site)},
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


@login_required
def sae_detail(request, report_id):
    report = access_sae(user=request.user, report_id=report_id)
    patient = report.patient
    is_site_staff = request.user.has_site_role(patient.site)
    signatures = signature_status(obj=report)
    form = SaeReportForm(request.POST or None, instance=type(report).objects.get(pk=report.pk))
    if request.method == "POST":
        if not is_site_staff:
            raise PermissionDenied
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
    return render(
        request,
        "safety/sae_detail.html",
        {
            "report": report,
            "ae": report.adverse_event,
            "patient": patient,
            "form": form,
            "clocks": selectors.sae_clocks(report),
            "signatures": signatures,
            "signed": any(v for _s, v in signatures),
            "is_site_staff": is_site_staff,
            "can_sign": request.user.has_site_role(patient.site, *INVESTIGATOR_ROLES),
            "can_review": request.user.has_trial_role(TrialRole.TRIAL_MANAGER),
            "assessment_form": AssessmentForm(),
            "review_form": SponsorReviewForm(initial={"sponsor_aware_at": report.submitted_at}),
            "submission_form": SubmissionForm(),
            "rsi": ReferenceSafetyInformation.in_force(),
            "death_record_missing": services.death_record_missing(report.adverse_event),
            "others": report.adverse_event.sae_reports.exclude(pk=report.pk),
        },
    )


@require_POST
@login_required
def sae_sign(request, report_id):
    report = access_sae(user=request.user, report_id=report_id)
    form = AssessmentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give every assessment, your password and tick the statement."))
        return redirect("safety:sae_detail", report_id=report.pk)
    assessment = {
        k: form.cleaned_data[k]
        for k in ("pi_causality_lutathera", "pi_causality_amino_acids", "pi_causality_procedures", "pi_expectedness")
    }
    try:
        services.sae_sign(
            report=report,
            actor=request.user,
            password=form.cleaned_data["password"],
            otp_token=form.cleaned_data["otp_token"],
            assessment=assessment,
            ip_address=client_ip(request),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Assessment signed."))
    return redirect("safety:sae_detail", report_id=report.pk)


@require_POST
@login_required
def sae_action(request, report_id, action):
    report = access_sae(user=request.user, report_id=report_id)
    try:
        if action == "review":
            form = SponsorReviewForm(request.POST)
            if not form.is_valid():
                raise DomainError(_("Give the sponsor's causality, expectedness and awareness time."))
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


@login_required
def sae_list(request):
    reports = list(selectors.sae_list(user=request.user).filter(retired_at__isnull=True))
    now = timezone.now()
    rows = [(r, selectors.sae_clocks(r, now)) for r in reports]
    rows.sort(key=lambda row: (not any(c["state"] == "overdue" for c in row[1]), row[0].due_at))
    return render(request, "safety/sae_list.html", {"rows": rows})


@login_required
def listing(request):
    user = request.user
    if not (user.sees_all_sites or user.has_site_role()):
        raise PermissionDenied
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


@trial_role_required(TrialRole.TRIAL_MANAGER, TrialRole.DATA_MANAGER, TrialRole.MONITOR)
def rsi_list(request):
    form = RsiForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_trial_role(TrialRole.TRIAL_MANAGER):
            raise PermissionDenied
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
            "can_add": request.user.has_trial_role(TrialRole.TRIAL_MANAGER),
        },
    )
