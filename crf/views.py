from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.errors import DomainError, EditConflict
from accounts.forms import form_add_domain_error
from accounts.permissions import trial_role_required
from accounts.roles import TrialRole
from accounts.views import render_history
from nelmas.paging import paginate
from patients.access import access_patient

from . import schedule, selectors, services
from .access import access_form, access_query, access_visit
from .forms import MessageForm, QueryForm, ReasonForm, VisitDateForm, crf_form_class
from .models import Casebook, FormStatus, Query


def form_url(visit, form_code, entry=None):
    kwargs = {"trial_number": visit.patient.trial_number, "code": visit.code, "form_code": form_code}
    if entry is not None:
        return reverse("crf:entry", kwargs=kwargs | {"entry": entry})
    return reverse("crf:form", kwargs=kwargs)


def _changes_for_display(model, instance, expected_version):
    """What others changed since the user opened the form: [(when, who, [(label, old, new)])]."""
    rows = []
    history = list(instance.history.filter(version__gt=expected_version).order_by("version"))
    previous = instance.history.filter(version=expected_version).first()
    for record in history:
        changed = []
        for name in model.data_field_names():
            old = getattr(previous, name, None) if previous else None
            new = getattr(record, name)
            if old != new:
                changed.append((model._meta.get_field(name).verbose_name, old, new))
        rows.append((record.history_date, record.history_user, changed))
        previous = record
    return rows


@login_required
def crf_form(request, trial_number, code, form_code, entry=None):
    model, visit, instance = access_form(
        user=request.user, trial_number=trial_number, code=code, form_code=form_code, entry=entry
    )
    patient = visit.patient
    is_site_staff = request.user.has_site_role(patient.site)
    form_class = crf_form_class(model)
    form = form_class(instance=instance)
    conflict = None
    readonly = (instance is not None and instance.status == FormStatus.LOCKED) or not is_site_staff
    if request.method == "POST":
        if readonly:
            raise PermissionDenied
        # Binding a ModelForm writes the submitted values onto its instance: compare with a copy.
        saved_values = {n: getattr(instance, n) for n in model.data_field_names()} if instance else {}
        form = form_class(request.POST, instance=model.objects.get(pk=instance.pk) if instance else None)
        if form.is_valid():
            data = {name: form.cleaned_data[name] for name in model.data_field_names()}
            if instance is not None:
                data = {n: v for n, v in data.items() if saved_values[n] != v}
            try:
                opened_at = int(request.POST.get("version") or 0)
            except ValueError:
                opened_at = 0
            try:
                saved = services.crf_save(
                    model=model,
                    visit=visit,
                    data=data,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    expected_version=opened_at,
                    instance=instance,
                )
                if request.POST.get("action") == "complete":
                    services.crf_mark_complete(form=saved, actor=request.user)
            except services.CheckFailed as exc:
                for field, message in exc.errors:
                    form.add_error(field if field in form.fields else None, message)
            except EditConflict as exc:
                current = model.objects.filter(pk=instance.pk).first() if instance else None
                conflict = {
                    "message": exc.message,
                    "changes": _changes_for_display(model, current, opened_at) if current else [],
                }
                form.add_error(None, exc.message)
                instance = current or model.objects.filter(visit=visit).first()
            except DomainError as exc:
                form_add_domain_error(form, exc)
            else:
                if request.POST.get("action") == "complete":
                    messages.success(request, _("Saved and marked complete."))
                elif saved.missing_fields():
                    messages.success(
                        request, _("Saved. Still missing: %(n)s fields.") % {"n": len(saved.missing_fields())}
                    )
                else:
                    messages.success(request, _("Saved. Every required field is given: mark the form complete."))
                return redirect(form_url(visit, form_code, saved.pk if model.REPEATING else None))
    queries = (
        list(Query.objects.filter(form_code=form_code, form_id=instance.pk).prefetch_related("messages__author"))
        if instance
        else []
    )
    by_field = {}
    for query in queries:
        by_field.setdefault(query.field, []).append(query)
    missing = [(n, model._meta.get_field(n).verbose_name) for n in instance.missing_fields()] if instance else []
    entries = list(model.objects.filter(visit=visit).order_by("created_at")) if model.REPEATING else []
    return render(
        request,
        "crf/form.html",
        {
            "model": model,
            "visit": visit,
            "patient": patient,
            "instance": instance,
            "form": form,
            "sections": form.sections(queries_by_field=by_field),
            "open_queries": [q for q in queries if q.status != Query.Status.CLOSED],
            "missing": missing,
            "required_total": len(model.REQUIRED_FOR_COMPLETE),
            "required_given": len(model.REQUIRED_FOR_COMPLETE) - len(missing) if instance else 0,
            "derived": instance.derived() if instance else [],
            "conflict": conflict,
            "entries": entries,
            "is_site_staff": is_site_staff,
            "can_verify": request.user.has_trial_role(TrialRole.MONITOR) and instance and instance.can_verify(),
            "is_data_manager": request.user.has_trial_role(TrialRole.DATA_MANAGER),
            "can_query": bool(request.user.has_trial_role(TrialRole.DATA_MANAGER, TrialRole.MONITOR) and instance),
            "query_form": QueryForm(model=model),
            "reason_form": ReasonForm(),
            "readonly": readonly,
            "action_base": (
                reverse(
                    "crf:entry_action" if model.REPEATING else "crf:action",
                    kwargs={"trial_number": trial_number, "code": code, "form_code": form_code, "action": "x"}
                    | ({"entry": instance.pk} if model.REPEATING else {}),
                )[:-2]
                if instance
                else ""
            ),
        },
    )


@require_POST
@login_required
def crf_action(request, trial_number, code, form_code, action, entry=None):
    model, visit, instance = access_form(
        user=request.user, trial_number=trial_number, code=code, form_code=form_code, entry=entry
    )
    back = form_url(visit, form_code, entry)
    if instance is None:
        return redirect(back)
    try:
        if action == "verify":
            services.crf_verify(form=instance, actor=request.user)
            messages.success(request, _("Source data verified."))
        elif action == "lock":
            services.crf_lock(form=instance, actor=request.user)
            messages.success(request, _("Form locked."))
        elif action == "unlock":
            services.crf_unlock(form=instance, actor=request.user, reason=request.POST.get("reason", ""))
            messages.success(request, _("Form unlocked."))
        elif action == "complete":
            services.crf_mark_complete(form=instance, actor=request.user)
            messages.success(request, _("Marked complete."))
        elif action == "query":
            form = QueryForm(request.POST, model=model)
            if not form.is_valid():
                raise DomainError(_("Choose the field and write the query."))
            services.query_raise(form=instance, actor=request.user, **form.cleaned_data)
            messages.success(request, _("Query raised."))
        else:
            raise PermissionDenied
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(back)


@login_required
def crf_history(request, trial_number, code, form_code, entry=None):
    model, visit, instance = access_form(
        user=request.user, trial_number=trial_number, code=code, form_code=form_code, entry=entry
    )
    if instance is None:
        return redirect(form_url(visit, form_code))
    return render_history(
        request,
        instance,
        title=f"{model.FORM_TITLE}: {visit.patient.trial_number} {visit.code}",
        timezone_name=visit.patient.site.timezone,
        back_url=form_url(visit, form_code, entry),
    )


@login_required
def visit_detail(request, trial_number, code):
    visit = access_visit(user=request.user, trial_number=trial_number, code=code)
    return render(
        request,
        "crf/visit.html",
        {
            "visit": visit,
            "patient": visit.patient,
            "forms": selectors.visit_forms(visit),
            "is_site_staff": request.user.has_site_role(visit.patient.site),
            "date_form": VisitDateForm(initial={"day": visit.done_on or timezone.localdate()}),
            "reason_form": ReasonForm(),
        },
    )


@require_POST
@login_required
def visit_missed(request, trial_number, code):
    visit = access_visit(user=request.user, trial_number=trial_number, code=code)
    if not request.user.has_site_role(visit.patient.site):
        raise PermissionDenied
    try:
        services.visit_mark_missed(visit=visit, reason=request.POST.get("reason", ""), actor=request.user)
        messages.success(request, _("Visit recorded as missed."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("crf:visit", trial_number=trial_number, code=code)


@require_POST
@login_required
def visit_done(request, trial_number, code):
    visit = access_visit(user=request.user, trial_number=trial_number, code=code)
    if not request.user.has_site_role(visit.patient.site):
        raise PermissionDenied
    form = VisitDateForm(request.POST)
    try:
        if not form.is_valid():
            raise DomainError(_("Give the date of the visit (not in the future)."))
        services.visit_mark_done(visit=visit, day=form.cleaned_data["day"], actor=request.user)
        messages.success(request, _("Visit date recorded."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("crf:visit", trial_number=trial_number, code=code)


@require_POST
@login_required
def form_not_done(request, trial_number, code, form_code):
    visit = access_visit(user=request.user, trial_number=trial_number, code=code)
    if not request.user.has_site_role(visit.patient.site):
        raise PermissionDenied
    try:
        services.crf_mark_not_done(
            visit=visit, form_code=form_code, reason=request.POST.get("reason", ""), actor=request.user
        )
        messages.success(request, _("Recorded as not done."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("crf:visit", trial_number=trial_number, code=code)


@require_POST
@login_required
def visit_unscheduled(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    if not request.user.has_site_role(patient.site):
        raise PermissionDenied
    form = VisitDateForm(request.POST)
    try:
        if not form.is_valid():
            raise DomainError(_("Give the date of the visit (not in the future)."))
        visit = services.visit_add_unscheduled(
            patient=patient, day=form.cleaned_data["day"], reason=request.POST.get("reason", ""), actor=request.user
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(patient.get_absolute_url())
    messages.success(request, _("Unscheduled visit added."))
    return redirect("crf:visit", trial_number=trial_number, code=visit.code)


@login_required
def query_list(request):
    status = request.GET.get("status", "open")
    queries = Query.objects.visible_to(request.user).select_related("patient__site", "raised_by")
    if request.GET.get("site"):
        queries = queries.filter(patient__site__code=request.GET["site"])
    if status == "open":
        queries = queries.open()
    elif status in Query.Status.values:
        queries = queries.filter(status=status)
    queries = queries.order_by("created_at", "pk") if status == "open" else queries.order_by("-created_at", "-pk")
    paging = paginate(request, queries)
    return render(
        request,
        "crf/query_list.html",
        {**paging, "queries": paging["page"].object_list, "status": status, "statuses": Query.Status.choices},
    )


@login_required
def query_detail(request, query_id):
    query = access_query(user=request.user, query_id=query_id)
    form = MessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        action, text = request.POST.get("action"), form.cleaned_data["text"]
        try:
            if action == "answer":
                services.query_answer(query=query, text=text, actor=request.user)
            elif action == "close":
                services.query_close(query=query, text=text, actor=request.user)
            elif action == "reopen":
                services.query_reopen(query=query, text=text, actor=request.user)
            else:
                raise PermissionDenied
        except DomainError as exc:
            form_add_domain_error(form, exc)
        else:
            messages.success(request, _("Query updated."))
            return redirect("crf:query_detail", query_id=query.pk)
    model_code, visit_code = query.form_code, query.visit_code
    from .registry import FORMS

    kwargs = {"trial_number": query.patient.trial_number, "code": visit_code, "form_code": model_code}
    target = (
        reverse("crf:entry", kwargs=kwargs | {"entry": query.form_id})
        if FORMS[model_code].REPEATING
        else reverse("crf:form", kwargs=kwargs)
    )
    return render(
        request,
        "crf/query_detail.html",
        {
            "query": query,
            "form": form,
            "field_label": FORMS[model_code]._meta.get_field(query.field).verbose_name,
            "messages_list": query.messages.select_related("author"),
            "form_url": target + f"#field-{query.field}",
            "is_site_staff": request.user.has_site_role(query.patient.site),
            "can_close": query.raised_by_id == request.user.pk or request.user.has_trial_role(TrialRole.DATA_MANAGER),
        },
    )


@trial_role_required(TrialRole.TRIAL_MANAGER, TrialRole.DATA_MANAGER, TrialRole.MONITOR, TrialRole.STATISTICIAN)
def schedule_page(request):
    return render(
        request,
        "crf/schedule.html",
        {
            "visits": schedule.schedule(),
            "log": schedule.LOG,
            "overrides": schedule.overrides(),
        },
    )


@login_required
def casebook(request, trial_number):
    """The patient's casebook: forms and their states, open queries, the PI's sign-off."""
    from accounts.forms import SignatureForm
    from accounts.permissions import client_ip
    from accounts.roles import INVESTIGATOR_ROLES
    from accounts.signatures import signature_identity_needed, signature_session_mark

    patient = access_patient(user=request.user, trial_number=trial_number)
    form = SignatureForm(
        request.POST or None,
        meaning=services.CASEBOOK_MEANING,
        user=request.user,
        identity_needed=signature_identity_needed(request.session),
    )
    can_sign = request.user.has_site_role(patient.site, *INVESTIGATOR_ROLES)
    if request.method == "POST":
        if not can_sign:
            raise PermissionDenied
        if form.is_valid():
            try:
                services.casebook_sign(
                    patient=patient,
                    actor=request.user,
                    password=form.cleaned_data["password"],
                    otp_token=form.cleaned_data.get("otp_token", ""),
                    ip_address=client_ip(request),
                    username=form.cleaned_data.get("username"),
                )
            except DomainError as exc:
                form_add_domain_error(form, exc)
            else:
                signature_session_mark(request.session)
                messages.success(request, _("Casebook signed."))
                return redirect("crf:casebook", trial_number=trial_number)
    book = Casebook.objects.filter(patient=patient).first()
    return render(
        request,
        "crf/casebook.html",
        {
            "patient": patient,
            "timeline": selectors.patient_timeline(patient),
            "blockers": services.casebook_blockers(patient),
            "casebook": book,
            "signatures": services.casebook_signature_status(patient),
            "form": form,
            "can_sign": can_sign,
        },
    )


@login_required
def my_reminders(request):
    """The visit reminders sent to this user (the same as the e-mails), newest first."""
    from .models import VisitReminder

    reminders = (
        VisitReminder.objects.filter(recipient=request.user, visit__patient__site__in=_visible_sites(request.user))
        .select_related("visit__patient", "notification")
        .order_by("-created_at", "visit__window_end")[:200]
    )
    return render(request, "crf/reminders.html", {"reminders": reminders})


def _visible_sites(user):
    from sites.models import Site

    return Site.objects.visible_to(user)
