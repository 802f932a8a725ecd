from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.models import AuditEvent
from core.audit import audit_event_record
from core.errors import DomainError
from core.forms import form_add_domain_error
from core.permissions import action_required
from core.policy import Action, can, deny_unless
from patients.access import access_patient
from patients.selectors import patient_randomisation_blockers, randomisation_timing

from . import design, services
from .forms import ConfigForm, GenerateForm, ImportForm, RandomiseForm
from .models import Allocation, AllocationList, RandomisationConfig, Slot
from .selectors import balance_report, integrity_report


@action_required(Action.RANDOMISATION_OVERVIEW)
def overview(request):
    """Balance of what has been allocated (never anything unused); the design for the statistician."""
    is_statistician = can(request.user, Action.RANDOMISATION_SETUP)
    config = services.active_config()
    context = {
        "balance": balance_report(),
        "integrity": integrity_report(),
        "config": config,
        "is_statistician": is_statistician,
    }
    if is_statistician:
        context["lists"] = AllocationList.objects.select_related("config").order_by("-created_at")
        context["versions"] = RandomisationConfig.objects.order_by("-number")
    return render(request, "randomisation/overview.html", context)


@action_required(Action.RANDOMISATION_SETUP)
def config_edit(request):
    current = services.active_config()
    form = ConfigForm(
        request.POST or None, instance=RandomisationConfig.objects.get(pk=current.pk) if current else None
    )
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "reason"}
        try:
            services.config_save(actor=request.user, data=data, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Randomisation design saved."))
            return redirect("randomisation:overview")
    return render(
        request, "randomisation/form.html", {"form": form, "title": _("Randomisation design"), "config": current}
    )


@action_required(Action.RANDOMISATION_SETUP)
def list_generate(request):
    form = GenerateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.list_generate(actor=request.user, seed=form.cleaned_data["seed"].strip().lower())
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Allocation list generated; its seed is recorded."))
            return redirect("randomisation:overview")
    return render(request, "randomisation/form.html", {"form": form, "title": _("Generate the allocation list")})


@action_required(Action.RANDOMISATION_SETUP)
def list_import(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.list_import(actor=request.user, text=form.cleaned_data["file"])
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Allocation list imported."))
            return redirect("randomisation:overview")
    return render(
        request, "randomisation/form.html", {"form": form, "title": _("Import an allocation list"), "multipart": True}
    )


@action_required(Action.RANDOMISATION_SETUP)
def list_download(request):
    """The active list, for the statistician's verification only. Every download is audited."""
    allocation_list = AllocationList.objects.filter(is_active=True).first()
    if allocation_list is None:
        messages.error(request, _("No allocation list is loaded."))
        return redirect("randomisation:overview")
    rows = [
        design.ListRow(s.stratum, s.sequence, s.block_number, s.block_size, s.arm)
        for s in Slot.objects.filter(allocation_list=allocation_list).order_by("stratum", "sequence")
    ]
    audit_event_record(
        kind=AuditEvent.Kind.LIST_VIEWED,
        actor=request.user,
        target=allocation_list,
        summary=f"Allocation list {allocation_list.pk} downloaded for verification",
    )
    response = HttpResponse(design.list_to_csv(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="nelmas-allocation-list-{allocation_list.pk}.csv"'
    return response


@login_required
def randomise(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    existing = Allocation.objects.filter(patient=patient).first()
    if existing is not None:
        return redirect("randomisation:result", trial_number=patient.trial_number)
    deny_unless(request.user, Action.RANDOMISE, patient.site)
    blockers = patient_randomisation_blockers(patient)
    timing = randomisation_timing(patient)
    form = RandomiseForm(request.POST if request.method == "POST" else None, late=timing.deviation)
    if request.method == "POST" and not blockers and form.is_valid():
        try:
            services.patient_randomise(
                patient=patient, actor=request.user, late_reason=form.cleaned_data.get("late_reason", "")
            )
        except DomainError as exc:
            if exc.field == "late_reason":
                form_add_domain_error(form, exc)
            else:
                blockers = [exc.message]
        else:
            return redirect("randomisation:result", trial_number=patient.trial_number)
    return render(
        request,
        "randomisation/randomise.html",
        {"patient": patient, "blockers": blockers, "timing": timing, "form": form},
    )


@login_required
def result(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    allocation = Allocation.objects.filter(patient=patient).select_related("randomised_by").first()
    if allocation is None:
        return redirect("randomisation:randomise", trial_number=patient.trial_number)
    return render(request, "randomisation/result.html", {"patient": patient, "allocation": allocation})
