from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.errors import DomainError, EditConflict
from core.forms import SignatureForm, form_add_domain_error, posted_text, posted_version
from core.paging import paginate
from core.permissions import action_required, client_ip
from core.policy import Action, Allowed, can, deny_unless, form_entry_action
from core.signatures import signature_identity_needed, signature_session_mark
from core.sorting import Column, sorting
from core.views import render_history
from patients.access import access_patient
from sites.models import Site

from . import schedule, sdv, sdv_plan, selectors, services
from .access import access_form, access_query, access_visit, expected_forms
from .forms import LabReferenceRangeForm, MessageForm, QueryForm, ReasonForm, VisitDateForm, crf_form_class
from .labs import form_derived_fields, grade_text
from .models import Casebook, FormNotDone, FormStatus, LabReferenceRange, Query, Visit, VisitReminder
from .registry import FORMS
from .selectors import QUERY_AGES, queries_by_age


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


def _shown(field, value) -> str:
    """A saved value as a reader sees it: the choice's label, Yes/No, a number with its unit."""
    if value is None or value == "":
        return "—"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    return f"{value} {field.help_text}".strip() if field.help_text else str(value)


def _verified_values(model, cleared) -> dict[str, str]:
    """Field name → its value when last verified, as shown to a reader, for the highlight."""
    if cleared is None:
        return {}
    return {name: _shown(model._meta.get_field(name), value) for name, value in cleared.changed.items()}


def _field_history(form, name: str) -> list[dict]:
    """Each saved value of one field of ``form``, oldest first: when, who, value, reason (one query)."""
    field = type(form)._meta.get_field(name)
    rows, previous = [], object()
    for record in form.history.select_related("history_user").order_by("history_date", "history_id"):
        value = getattr(record, name)
        if value != previous:
            rows.append(
                {
                    "at": record.history_date,
                    "who": record.history_user,
                    "value": _shown(field, value),
                    "reason": record.history_change_reason or "",
                }
            )
            previous = value
    return rows


def _safe_next(request) -> str:
    """A same-site address to return to (the SDV queue), or ''."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    ok = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return target if ok and target.startswith("/") else ""


def _add_cross_field_errors(form, model, visit, saved_values: dict) -> None:
    """With a field refused (a range, a format), also run the edit checks on the rest, so every
    error of the submission shows at once rather than one round at a time."""
    data = dict(saved_values)
    data.update({n: form.cleaned_data[n] for n in model.data_field_names() if n in form.cleaned_data})
    for name in form.errors:
        data.pop(name, None)  # a refused value is not checked against the others
    result = services.crf_check(model, data, patient=visit.patient, visit=visit)
    for field, message in result.hard:
        if field in form.errors:
            continue
        form.add_error(field if field in form.fields else None, message)


def _next_form_code(visit, model, saved) -> str | None:
    """The visit's next form, in the schedule's order, that still needs entry (not complete,
    verified, locked or recorded as not done); wraps round to earlier ones left open."""
    codes = [c for c in expected_forms(visit) if not FORMS[c].REPEATING]
    if model.FORM_CODE not in codes:
        return None
    done = {FormStatus.COMPLETE, FormStatus.VERIFIED, FormStatus.LOCKED}
    not_done = set(FormNotDone.objects.filter(visit=visit).values_list("form_code", flat=True))
    start = codes.index(model.FORM_CODE)
    for code in codes[start + 1 :] + codes[:start]:
        if code in not_done:
            continue
        status = FORMS[code].objects.filter(visit=visit).values_list("status", flat=True).first()
        if status not in done:
            return code
    return None


def _to_next_form(request, visit, model, saved):
    """After "Save and next form": say how the saved form stands, then open the next one."""
    missing = saved.missing_fields()
    if saved.status == FormStatus.COMPLETE:
        messages.success(request, _("%(form)s saved and complete.") % {"form": model.FORM_TITLE})
    else:
        messages.warning(
            request,
            _("%(form)s saved; %(n)s required fields still missing.") % {"form": model.FORM_TITLE, "n": len(missing)},
        )
    code = _next_form_code(visit, model, saved)
    if code is None:
        messages.info(request, _("No other form of this visit is waiting."))
        return redirect("crf:visit", trial_number=visit.patient.trial_number, code=visit.code)
    return redirect(form_url(visit, code))


@login_required
def crf_form(request, trial_number, code, form_code, entry=None):
    model, visit, instance = access_form(
        user=request.user, trial_number=trial_number, code=code, form_code=form_code, entry=entry
    )
    patient = visit.patient
    may_enter = can(request.user, form_entry_action(form_code), patient.site)
    form_class = crf_form_class(model)
    form = form_class(instance=instance)
    conflict = None
    readonly = (instance is not None and instance.status == FormStatus.LOCKED) or not may_enter
    if request.method == "POST":
        if readonly:
            raise PermissionDenied
        # Binding a ModelForm writes the submitted values onto its instance: compare with a copy.
        saved_values = {n: getattr(instance, n) for n in model.data_field_names()} if instance else {}
        form = form_class(request.POST, instance=model.objects.get(pk=instance.pk) if instance else None)
        if not form.is_valid():
            _add_cross_field_errors(form, model, visit, saved_values)
        if form.is_valid():
            data = {name: form.cleaned_data[name] for name in model.data_field_names()}
            if instance is not None:
                data = {n: v for n, v in data.items() if saved_values[n] != v}
            opened_at = 0
            action = request.POST.get("action")
            try:
                opened_at = posted_version(request)
                # One service call, one transaction: a refused completion saves nothing, so the page's
                # version stays the saved one and the nurse's next save is not a conflict (issue 21).
                saved = services.crf_save(
                    model=model,
                    visit=visit,
                    data=data,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    expected_version=opened_at,
                    instance=instance,
                    complete=action == "complete",
                    complete_if_ready=action == "next",
                )
            except services.FormIncomplete as exc:
                # Nothing was saved: the form shows what she typed, the message at each missing field.
                form.add_error(
                    None,
                    _("Not saved and not marked complete. %(why)s Fill it in, or press Save to keep it in progress.")
                    % {"why": exc.message},
                )
                for field, message in exc.errors:
                    if field in form.fields:
                        form.add_error(field, message)
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
                if request.POST.get("action") == "next":
                    return _to_next_form(request, visit, model, saved)
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
    cleared = sdv.verification_cleared(instance)
    next_code = None if model.REPEATING or readonly else _next_form_code(visit, model, instance)
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
            "paper": form.paper_sections(queries_by_field=by_field),
            "open_queries": [q for q in queries if q.status != Query.Status.CLOSED],
            "missing": missing,
            "required_total": len(model.REQUIRED_FOR_COMPLETE),
            "required_given": len(model.REQUIRED_FOR_COMPLETE) - len(missing) if instance else 0,
            "derived": instance.derived() if instance else [],
            "inline_derived": _inline_derived(model, instance),
            "derive_url": reverse(
                "crf:derive", kwargs={"trial_number": trial_number, "code": code, "form_code": form_code}
            )
            if model.DERIVED_FIELDS
            else "",
            "conflict": conflict,
            "sdv_cleared": cleared,
            "next_form_title": FORMS[next_code].FORM_TITLE if next_code else "",
            "save_and_next": not (model.REPEATING or readonly),
            "sdv_changed": _verified_values(model, cleared),
            # The monitor sees which fields the SDV plan asks to verify on this patient's form.
            "sdv_fields": set(sdv_plan.fields_to_verify(form_code, patient.site_sequence, instance.data_field_names()))
            if instance and can(request.user, Action.SDV, patient.site)
            else set(),
            "sdv_level": sdv_plan.plan_for(form_code).level,
            "next_url": _safe_next(request),
            "entries": entries,
            "may": Allowed(request.user, patient.site),
            "may_enter": may_enter,
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


# The policy action each form button needs; None: completing needs the form's own entry action.
FORM_ACTIONS = {
    "verify": Action.SDV,
    "lock": Action.FORM_LOCK,
    "unlock": Action.FORM_UNLOCK,
    "complete": None,
    "query": Action.QUERY_RAISE,
}


def _derived_text(key, value) -> str:
    if key == "creatinine_clearance":
        return "—" if value is None else f"{value} mL/min"
    if key == "bmi":
        return "—" if value is None else f"{value} kg/m²"
    return grade_text(value)


def _inline_placements(model) -> dict[str, list[tuple[str, str, str]]]:
    """Entered field → [(key, label, stored field)] of the derived values shown beside it."""
    places: dict[str, list[tuple[str, str, str]]] = {}
    for analyte, grade_name in getattr(model, "GRADE_OF", {}).items():
        places.setdefault(analyte, []).append((analyte, _("CTCAE v5.0"), grade_name))
    if "creatinine_clearance" in model.DERIVED_FIELDS:
        places.setdefault("creatinine", []).append(
            ("creatinine_clearance", _("Clearance (Cockcroft–Gault)"), "creatinine_clearance")
        )
    if "bmi" in model.DERIVED_FIELDS:
        places.setdefault("weight_kg", []).append(("bmi", _("BMI"), "bmi"))
    return places


def _inline_derived(model, instance) -> dict[str, list[tuple[str, str, str]]]:
    """Entered field → [(key, label, text)] with the values stored on the form (blank when new)."""
    return {
        field: [
            (key, label, _derived_text(key, getattr(instance, stored)) if instance is not None else "")
            for key, label, stored in rows
        ]
        for field, rows in _inline_placements(model).items()
    }


@require_POST
@login_required
def crf_derive(request, trial_number, code, form_code, entry=None):
    """The values the system derives from the form as it is being typed (CTCAE grades, creatinine
    clearance, BMI), computed by the same functions the save uses; nothing is saved. A server
    round-trip rather than the rules in JavaScript, so the page can never disagree with the data."""
    model, visit, instance = access_form(
        user=request.user, trial_number=trial_number, code=code, form_code=form_code, entry=entry
    )
    deny_unless(request.user, form_entry_action(form_code), visit.patient.site)
    form = crf_form_class(model)(request.POST, instance=model.objects.get(pk=instance.pk) if instance else None)
    form.is_valid()  # a half-typed form: use the fields that parse, ignore the others
    merged = {n: getattr(instance, n) for n in model.data_field_names()} if instance else {}
    merged |= {n: v for n, v in getattr(form, "cleaned_data", {}).items() if n in model.data_field_names()}
    derived = form_derived_fields(model, merged, patient=visit.patient, visit=visit)
    shown = {}
    for field, rows in _inline_placements(model).items():
        for key, _label, stored in rows:
            typed = merged.get(field) is not None or key in ("creatinine_clearance", "bmi")
            shown[key] = _derived_text(key, derived.get(stored)) if typed else ""
    return JsonResponse({"derived": shown})


@require_POST
@login_required
def crf_action(request, trial_number, code, form_code, action, entry=None):
    model, visit, instance = access_form(
        user=request.user, trial_number=trial_number, code=code, form_code=form_code, entry=entry
    )
    back = form_url(visit, form_code, entry)
    if action not in FORM_ACTIONS:
        raise PermissionDenied
    needed = FORM_ACTIONS[action] or form_entry_action(form_code)
    if needed == Action.CRF_ENTER:
        needed = Action.CRF_COMPLETE
    deny_unless(request.user, needed, visit.patient.site)
    if instance is None:
        return redirect(back)
    try:
        if action == "verify":
            services.crf_verify(form=instance, actor=request.user)
            messages.success(request, _("Source data verified."))
            if _safe_next(request):
                return redirect(_safe_next(request))
        elif action == "lock":
            services.crf_lock(form=instance, actor=request.user)
            messages.success(request, _("Form locked."))
        elif action == "unlock":
            services.crf_unlock(form=instance, actor=request.user, reason=posted_text(request, "reason"))
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
            "may": Allowed(request.user, visit.patient.site),
            "enterable": {
                code for code in FORMS if can(request.user, form_entry_action(code), visit.patient.site)
            },
            "date_form": VisitDateForm(initial={"day": visit.done_on or timezone.localdate()}),
            "reason_form": ReasonForm(),
        },
    )


@require_POST
@login_required
def visit_missed(request, trial_number, code):
    visit = access_visit(user=request.user, trial_number=trial_number, code=code)
    deny_unless(request.user, Action.CRF_ENTER, visit.patient.site)
    try:
        reason = posted_text(request, "reason", max_length=Visit._meta.get_field("missed_reason").max_length)
        services.visit_mark_missed(visit=visit, reason=reason, actor=request.user)
        messages.success(request, _("Visit recorded as missed."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("crf:visit", trial_number=trial_number, code=code)


@require_POST
@login_required
def visit_done(request, trial_number, code):
    visit = access_visit(user=request.user, trial_number=trial_number, code=code)
    deny_unless(request.user, Action.CRF_ENTER, visit.patient.site)
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
    deny_unless(request.user, form_entry_action(form_code), visit.patient.site)
    try:
        reason = posted_text(request, "reason", max_length=FormNotDone._meta.get_field("reason").max_length)
        services.crf_mark_not_done(visit=visit, form_code=form_code, reason=reason, actor=request.user)
        messages.success(request, _("Recorded as not done."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("crf:visit", trial_number=trial_number, code=code)


@require_POST
@login_required
def visit_unscheduled(request, trial_number):
    patient = access_patient(user=request.user, trial_number=trial_number)
    deny_unless(request.user, Action.CRF_ENTER, patient.site)
    form = VisitDateForm(request.POST)
    try:
        if not form.is_valid():
            raise DomainError(_("Give the date of the visit (not in the future)."))
        reason = posted_text(request, "reason", max_length=Visit._meta.get_field("unscheduled_reason").max_length)
        visit = services.visit_add_unscheduled(
            patient=patient, day=form.cleaned_data["day"], reason=reason, actor=request.user
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(patient.get_absolute_url())
    messages.success(request, _("Unscheduled visit added."))
    return redirect("crf:visit", trial_number=trial_number, code=visit.code)


# Without ?sort= open queries come oldest first (the ones waiting longest), closed ones newest first.
QUERY_COLUMNS = [
    Column(gettext_lazy("Patient"), "patient", ("patient__trial_number", "created_at", "pk")),
    Column(gettext_lazy("Visit"), "visit", ("visit_code", "patient__trial_number", "pk")),
    Column(gettext_lazy("Form / field"), "form", ("form_code", "field", "pk")),
    Column(gettext_lazy("Query")),
    Column(gettext_lazy("Status"), "status", ("status", "created_at", "pk")),
    Column(gettext_lazy("Age (days)"), "age", ("-created_at", "-pk"), classes="text-end"),
]


@action_required(Action.TRIAL_DATA_VIEW)
def query_list(request):
    status = request.GET.get("status", "open")
    queries = Query.objects.visible_to(request.user).select_related("patient__site", "raised_by")
    if request.GET.get("site"):
        queries = queries.filter(patient__site__code=request.GET["site"])
    if status == "open":
        queries = queries.open()
    elif status == "waiting":  # opened and not yet answered: the site's to-do
        queries = queries.filter(status=Query.Status.OPEN)
    elif status in Query.Status.values:
        queries = queries.filter(status=status)
    if request.GET.get("age") in QUERY_AGES:
        queries = queries_by_age(queries, request.GET["age"])
    sort = sorting(request, QUERY_COLUMNS)
    if sort.key:
        queries = queries.order_by(*sort.order_by(QUERY_COLUMNS))
    else:
        queries = (
            queries.order_by("created_at", "pk")
            if status in ("open", "waiting")
            else queries.order_by("-created_at", "-pk")
        )
    paging = paginate(request, queries)
    return render(
        request,
        "crf/query_list.html",
        {
            **paging,
            "queries": paging["page"].object_list,
            "status": status,
            "statuses": Query.Status.choices,
            "can_bulk_close": can(request.user, Action.QUERY_CLOSE),
            "sort_headers": sort.headers,
        },
    )


@require_POST
@action_required(Action.QUERY_CLOSE)
def query_bulk_close(request):
    """The data manager closes several queries at once, with one reason recorded on each; all or
    none (one transaction), and only queries the data manager may see."""
    ids = [int(v) for v in request.POST.getlist("query") if v.isdigit()]
    text = request.POST.get("text", "").strip()
    back = _safe_back(request)
    if not ids or not text:
        messages.error(request, _("Select the queries and give the reason for closing them."))
        return redirect(back)
    try:
        closed = services.query_close_many(
            queries=Query.objects.visible_to(request.user).filter(pk__in=ids).open(), actor=request.user, text=text
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(n)s queries closed.") % {"n": len(closed)})
    return redirect(back)


def _safe_back(request) -> str:
    target = request.POST.get("back", "")
    ok = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return target if ok and target.startswith("/") else reverse("crf:query_list")


@login_required
def query_detail(request, query_id):
    query = access_query(user=request.user, query_id=query_id)
    form = MessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        action, text = request.POST.get("action"), form.cleaned_data["text"]
        if action == "answer":
            deny_unless(request.user, Action.QUERY_ANSWER, query.patient.site)
        elif action in ("close", "reopen") and not services.query_may_close(query=query, actor=request.user):
            raise PermissionDenied
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
    kwargs = {"trial_number": query.patient.trial_number, "code": visit_code, "form_code": model_code}
    target = (
        reverse("crf:entry", kwargs=kwargs | {"entry": query.form_id})
        if FORMS[model_code].REPEATING
        else reverse("crf:form", kwargs=kwargs)
    )
    model = FORMS[model_code]
    saved = model.objects.filter(pk=query.form_id, patient=query.patient).first()
    return render(
        request,
        "crf/query_detail.html",
        {
            "query": query,
            "form_title": model.FORM_TITLE,
            "current_value": _shown(model._meta.get_field(query.field), getattr(saved, query.field)) if saved else "—",
            "field_history": _field_history(saved, query.field) if saved else [],
            "form": form,
            "field_label": FORMS[model_code]._meta.get_field(query.field).verbose_name,
            "messages_list": query.messages.select_related("author"),
            "form_url": target + f"#field-{query.field}",
            "may": Allowed(request.user, query.patient.site),
            "can_close": services.query_may_close(query=query, actor=request.user),
        },
    )


@action_required(Action.SCHEDULE_VIEW)
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


@action_required(Action.SDV_QUEUE_VIEW)
def sdv_plan_page(request):
    """The monitoring plan's SDV part as the trial manager and monitor review it (crf.sdv_plan)."""
    rows = []
    for code, model in FORMS.items():
        entry = sdv_plan.plan_for(code)
        labels = [model._meta.get_field(name).verbose_name for name in entry.fields]
        rows.append({"title": model.FORM_TITLE, "level": entry.level, "fields": labels, "why": entry.why})
    return render(
        request,
        "crf/sdv_plan.html",
        {
            "rows": rows,
            "levels": sdv_plan.SdvLevel,
            "sample_every": sdv_plan.SAMPLE_EVERY,
            "other_records": sdv_plan.OTHER_RECORDS,
        },
    )


@action_required(Action.LAB_RANGES_VIEW)
def reference_ranges(request):
    """The site laboratories' normal ranges in force and past; the trial manager or data manager adds."""
    can_edit = can(request.user, Action.LAB_RANGES_MANAGE)
    form = LabReferenceRangeForm(request.POST or None)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if form.is_valid():
            try:
                services.lab_reference_range_add(actor=request.user, **form.cleaned_data)
            except DomainError as exc:
                form_add_domain_error(form, exc)
            else:
                messages.success(request, _("Normal range recorded."))
                return redirect("crf:reference_ranges")
    ranges = LabReferenceRange.objects.select_related("site").order_by("site__code", "limit", "sex", "-effective_from")
    return render(request, "crf/reference_ranges.html", {"ranges": ranges, "form": form, "can_edit": can_edit})


@login_required
def casebook(request, trial_number):
    """The patient's casebook: forms and their states, open queries, the PI's sign-off."""
    patient = access_patient(user=request.user, trial_number=trial_number)
    form = SignatureForm(
        request.POST or None,
        meaning=services.CASEBOOK_MEANING,
        user=request.user,
        identity_needed=signature_identity_needed(request.session),
    )
    if request.method == "POST":
        deny_unless(request.user, Action.CASEBOOK_SIGN, patient.site)
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
            "may": Allowed(request.user, patient.site),
        },
    )


@login_required
def my_reminders(request):
    """The visit reminders sent to this user (the same as the e-mails), newest first."""
    reminders = (
        VisitReminder.objects.filter(recipient=request.user, visit__patient__site__in=_visible_sites(request.user))
        .select_related("visit__patient", "notification")
        .order_by("-created_at", "visit__window_end")[:200]
    )
    return render(request, "crf/reminders.html", {"reminders": reminders})


def _visible_sites(user):
    return Site.objects.visible_to(user)
