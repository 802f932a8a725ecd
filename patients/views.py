from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.forms import SignatureForm, form_add_domain_error, posted_version
from core.paging import paginate
from core.permissions import action_required, client_ip
from core.policy import Action, Allowed, can, deny_unless
from core.signatures import signature_identity_needed, signature_session_mark, signature_status
from core.sorting import Column, sorting
from core.verification import verification_state
from core.views import render_history, verify_record
from sites.access import access_site
from sites.models import Site

from . import services
from .access import access_consent, access_eligibility, access_patient
from .eligibility import answer_rows, evaluate
from .forms import (
    ConsentDocumentForm,
    ConsentForm,
    EligibilityForm,
    RegistrationCorrectionForm,
    RegistrationForm,
    SampleConsentWithdrawalForm,
    ScreeningForm,
    WithdrawalForm,
)
from .models import ConsentDocument, EligibilityAssessment, Patient, ScreeningEntry
from .selectors import patient_list as select_patients
from .selectors import patient_randomisation_blockers

# The patient list's columns; without ?sort= the list keeps its site-and-registration order
# (patients.selectors._list_order), which reads from an index.
PATIENT_COLUMNS = [
    Column(gettext_lazy("Trial number"), "trial_number", ("trial_number", "pk")),
    Column(gettext_lazy("Initials")),
    Column(gettext_lazy("Sex / born")),
    Column(gettext_lazy("Status"), "status", ("status", "trial_number", "pk")),
    Column(gettext_lazy("Liver resection"), "resection", ("liver_resection_date", "trial_number", "pk")),
    Column(gettext_lazy("Consent")),
    Column(gettext_lazy("Tasks")),
]


@action_required(Action.TRIAL_DATA_VIEW)
def patient_list(request):
    query, site_code, status = request.GET.get("q", ""), request.GET.get("site", ""), request.GET.get("status", "")
    patients = select_patients(user=request.user, query=query, site_code=site_code, status=status)
    sort = sorting(request, PATIENT_COLUMNS)
    if sort.key:
        patients = patients.order_by(*sort.order_by(PATIENT_COLUMNS))
    sites = Site.objects.visible_to(request.user)
    paging = paginate(request, patients)
    return render(
        request,
        "patients/patient_list.html",
        {
            **paging,
            "patients": paging["page"].object_list,
            "sites": sites,
            "statuses": Patient.Status.choices,
            "q": query,
            "site_code": site_code,
            "status": status,
            "registrable": [s for s in sites if s.can_recruit() and can(request.user, Action.PATIENT_REGISTER, s)],
            "sort_headers": sort.headers,
        },
    )


@login_required
def patient_register(request, code):
    site = access_site(user=request.user, code=code)
    deny_unless(request.user, Action.PATIENT_REGISTER, site)
    form = RegistrationForm(request.POST or None, site=site)
    if request.method == "POST" and form.is_valid():
        data, consent = form.split()
        try:
            patient = services.patient_register(
                actor=request.user,
                site=site,
                data=data,
                consent=consent,
                screening=form.cleaned_data["screening"],
                confirm_possible_duplicate=form.cleaned_data["not_a_duplicate"],
            )
        except DomainError as exc:
            form.possible_duplicate = exc.code == "possible_duplicate"
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Registered as %(n)s.") % {"n": patient.trial_number})
            return redirect(patient)
    return render(
        request,
        "patients/patient_form.html",
        {"form": form, "site": site, "title": _("Register a patient at %(c)s") % {"c": site.code}},
    )


@login_required
def patient_detail(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    assessment = EligibilityAssessment.objects.filter(patient=patient).select_related("confirmed_by").first()
    evaluation = evaluate(assessment, patient) if assessment else None
    consents = list(patient.consents.select_related("document", "taken_by", "patient__site"))
    return render(
        request,
        "patients/patient_detail.html",
        {
            "patient": patient,
            # Each consent with its source data verification (core.verification): a few records a patient.
            "consents": [(c, verification_state(record=c, user=request.user)) for c in consents],
            "eligibility_sdv": verification_state(record=assessment, user=request.user) if assessment else None,
            "reconsent_tasks": patient.reconsent_tasks.filter(completed_at__isnull=True).select_related("document"),
            "withdrawals": patient.withdrawals.all(),
            "assessment": assessment,
            "evaluation": evaluation,
            "eligibility_signatures": signature_status(obj=assessment) if assessment else [],
            # Only an eligible patient's page says what stands in the way of randomising.
            "blockers": patient_randomisation_blockers(patient) if patient.status == Patient.Status.ELIGIBLE else [],
            "may": Allowed(request.user, patient.site),
        },
    )


@require_POST
@login_required
def consent_verify(request, trial_number, consent_id):
    consent = access_consent(user=request.user, trial_number=trial_number, consent_id=consent_id)
    return verify_record(request, consent, back_url=f"{consent.patient.get_absolute_url()}#consent-{consent.pk}")


@require_POST
@login_required
def eligibility_verify(request, trial_number):
    assessment = access_eligibility(user=request.user, trial_number=trial_number)
    return verify_record(request, assessment, back_url=f"{assessment.patient.get_absolute_url()}#eligibility")


@login_required
def patient_history(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    return render_history(
        request,
        patient,
        title=_("History of %(n)s") % {"n": patient.trial_number},
        timezone_name=patient.site.timezone,
        back_url=patient.get_absolute_url(),
    )


@login_required
def registration_correct(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    deny_unless(request.user, Action.PATIENT_REGISTER, patient.site)
    form = RegistrationCorrectionForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid():
        try:
            services.patient_registration_correct(
                actor=request.user,
                patient=patient,
                data=form.changes(),
                reason=form.cleaned_data["reason"],
                expected_version=int(request.POST.get("version") or patient.version),
            )
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Registration data corrected. The history keeps the old values."))
            return redirect(patient)
    return render(
        request,
        "patients/simple_form.html",
        {
            "form": form,
            "patient": patient,
            "version": patient.version,
            "title": _("Correct registration data"),
        },
    )


@login_required
def sample_consent_withdraw(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    deny_unless(request.user, Action.CONSENT_RECORD, patient.site)
    form = SampleConsentWithdrawalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.consent_samples_withdraw(actor=request.user, patient=patient, **form.cleaned_data)
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Sample consent withdrawn: no further samples are expected."))
            return redirect(patient)
    return render(
        request,
        "patients/simple_form.html",
        {"form": form, "patient": patient, "title": _("Withdraw consent to NETest and biobank samples")},
    )


@login_required
def consent_add(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    deny_unless(request.user, Action.CONSENT_RECORD, patient.site)
    form = ConsentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.consent_record(actor=request.user, patient=patient, data=form.cleaned_data)
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Consent recorded."))
            return redirect(patient)
    return render(
        request, "patients/simple_form.html", {"form": form, "patient": patient, "title": _("Record consent")}
    )


@login_required
def withdrawal_add(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    deny_unless(request.user, Action.PATIENT_WITHDRAW, patient.site)
    form = WithdrawalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.patient_withdraw(actor=request.user, patient=patient, data=form.cleaned_data)
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Withdrawal recorded. The data collected so far is kept."))
            return redirect(patient)
    return render(
        request, "patients/simple_form.html", {"form": form, "patient": patient, "title": _("Withdraw from the trial")}
    )


@login_required
def eligibility_edit(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    deny_unless(request.user, Action.ELIGIBILITY_ASSESS, patient.site)
    assessment = EligibilityAssessment.objects.filter(patient=patient).first()
    form = EligibilityForm(request.POST or None, instance=assessment, patient=patient)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "reason"}
        try:
            services.eligibility_save(
                actor=request.user,
                patient=patient,
                data=data,
                reason=form.cleaned_data.get("reason", ""),
                expected_version=posted_version(request) if assessment else None,
            )
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Eligibility answers saved."))
            return redirect(patient)
    evaluation = evaluate(assessment, patient) if assessment else None
    return render(
        request,
        "patients/eligibility_form.html",
        {"form": form, "patient": patient, "assessment": assessment, "evaluation": evaluation},
    )


@login_required
def eligibility_confirm(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    deny_unless(request.user, Action.ELIGIBILITY_CONFIRM, patient.site)
    assessment = EligibilityAssessment.objects.filter(patient=patient).first()
    if assessment is None:
        return redirect("patients:eligibility_edit", trial_number=patient.trial_number)
    form = SignatureForm(
        request.POST or None,
        meaning=services.ELIGIBILITY_MEANING,
        user=request.user,
        identity_needed=signature_identity_needed(request.session),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.eligibility_confirm(
                actor=request.user,
                patient=patient,
                password=form.cleaned_data["password"],
                otp_token=form.cleaned_data.get("otp_token", ""),
                ip_address=client_ip(request),
                username=form.cleaned_data.get("username"),
            )
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            signature_session_mark(request.session)
            patient.refresh_from_db()
            messages.success(request, _("Eligibility confirmed: %(s)s.") % {"s": patient.get_status_display()})
            return redirect(patient)
    return render(
        request,
        "patients/eligibility_confirm.html",
        {
            "form": form,
            "patient": patient,
            "assessment": assessment,
            "evaluation": evaluate(assessment, patient),
            "rows": answer_rows(assessment, patient),
            "signatures": signature_status(obj=assessment),
        },
    )


@login_required
def eligibility_history(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    assessment = EligibilityAssessment.objects.filter(patient=patient).first()
    if assessment is None:
        return redirect(patient)
    return render_history(
        request,
        assessment,
        title=_("History of the eligibility of %(n)s") % {"n": patient.trial_number},
        timezone_name=patient.site.timezone,
        back_url=patient.get_absolute_url(),
    )


@action_required(Action.TRIAL_DATA_VIEW)
def screening_list(request):
    entries = ScreeningEntry.objects.visible_to(request.user).select_related("site", "patient")
    site_code = request.GET.get("site", "")
    if site_code:
        entries = entries.filter(site__code=site_code)
    sites = Site.objects.visible_to(request.user)
    return render(
        request,
        "patients/screening_list.html",
        {
            "entries": entries[:300],
            "sites": sites,
            "site_code": site_code,
            "addable": [
                s for s in sites if s.status != Site.Status.CLOSED and can(request.user, Action.SCREENING_LOG_ADD, s)
            ],
        },
    )


@login_required
def screening_add(request, code):
    site = access_site(user=request.user, code=code)
    deny_unless(request.user, Action.SCREENING_LOG_ADD, site)
    form = ScreeningForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.screening_log_add(actor=request.user, site=site, data=form.cleaned_data)
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Added to the screening log."))
            return redirect("patients:screening_list")
    return render(
        request,
        "patients/simple_form.html",
        {"form": form, "site": site, "title": _("Screening log: %(c)s") % {"c": site.code}},
    )


@action_required(Action.CONSENT_DOCUMENT_VIEW)
def consent_documents(request):
    form = ConsentDocumentForm(request.POST or None)
    if request.method == "POST":
        deny_unless(request.user, Action.CONSENT_DOCUMENT_MANAGE)
        if form.is_valid():
            try:
                services.consent_document_add(actor=request.user, data=form.cleaned_data)
            except DomainError as exc:
                form_add_domain_error(form, exc)
            else:
                messages.success(request, _("Version added; patients on study have a re-consent task."))
                return redirect("patients:consent_documents")
    return render(
        request,
        "patients/consent_documents.html",
        {"documents": ConsentDocument.objects.all(), "form": form, "may": Allowed(request.user)},
    )
