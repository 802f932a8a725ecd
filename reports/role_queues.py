"""The work lists behind each role's home queue that no other page lists: eligibility to confirm,
SAEs to sign, casebooks to sign, re-consents due, SAEs to report, overdue SAEs and sites behind
their recruitment plan.

Each list is one queryset, taken from the sites at which the user may do the action the work is
for (core.policy.action_site_ids), so the home count and the list are the same query: a count
cannot promise more than the list shows, nor show another site's or another duty's work.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from accounts.models import Signature
from core.policy import Action, action_site_ids
from core.sorting import Column
from crf.models import Casebook, FormStatus, Query
from crf.registry import FORMS
from patients.models import EligibilityAssessment, Patient, ReconsentTask
from safety.models import SaeReport
from safety.selectors import overdue_sae_reports
from sites.models import Site

from .forecast import DAYS_PER_MONTH


def _in_scope(queryset: QuerySet, user, action: Action, site_path: str) -> QuerySet:
    """``queryset`` (already visible_to the user) cut to the sites where the user may do ``action``."""
    ids = action_site_ids(user, action)
    return queryset if ids is None else queryset.filter(**{f"{site_path}__in": ids})


def _unsigned(model) -> Exists:
    """True where a record has no valid (not invalidated) signature: the services invalidate one as
    soon as the signed content changes (core.signatures.signatures_invalidate_stale)."""
    signatures = Signature.objects.filter(
        content_type=ContentType.objects.get_for_model(model),
        object_id=Cast(OuterRef("pk"), CharField()),
        invalidated_at__isnull=True,
    )
    return ~Exists(signatures)


def eligibility_to_confirm(user, now) -> QuerySet:
    """Assessments awaiting the investigator's confirmation (outcome pending: new, or a correction
    voided the signature)."""
    rows = EligibilityAssessment.objects.filter(
        patient__in=Patient.objects.visible_to(user),
        retired_at__isnull=True,
        outcome=EligibilityAssessment.Outcome.PENDING,
    ).select_related("patient__site")
    return _in_scope(rows, user, Action.ELIGIBILITY_CONFIRM, "patient__site_id")


def saes_to_sign(user, now) -> QuerySet:
    """SAE reports without the investigator's valid signature (protocol "Safety reporting": the PI
    assesses causality and expectedness and signs each report)."""
    rows = (
        SaeReport.objects.visible_to(user)
        .filter(retired_at__isnull=True)
        .filter(_unsigned(SaeReport))
        .select_related("adverse_event__patient__site")
    )
    return _in_scope(rows, user, Action.SAE_ASSESS_SIGN, "adverse_event__patient__site_id")


def casebooks_to_sign(user, now) -> QuerySet:
    """Patients whose casebook is ready for the PI's sign-off and not validly signed: the end of
    study form complete, no form in progress and no open query (crf.services.casebook_blockers, in
    SQL), and no valid signature on the casebook."""
    in_progress = Q()
    for model in FORMS.values():
        in_progress |= Exists(model.objects.filter(patient=OuterRef("pk"), status=FormStatus.IN_PROGRESS))
    end_done = FORMS["end_of_study"].objects.filter(patient=OuterRef("pk")).exclude(status=FormStatus.IN_PROGRESS)
    signed = Casebook.objects.filter(patient=OuterRef("pk")).exclude(_unsigned(Casebook))
    rows = (
        Patient.objects.visible_to(user)
        .filter(Exists(end_done))
        .exclude(in_progress)
        .exclude(Exists(Query.objects.open().filter(patient=OuterRef("pk"))))
        .exclude(Exists(signed))
        .select_related("site")
    )
    return _in_scope(rows, user, Action.CASEBOOK_SIGN, "site_id")


def reconsents_due(user, now) -> QuerySet:
    """Patients on study asked to consent again to a newer consent version."""
    rows = ReconsentTask.objects.filter(
        patient__in=Patient.objects.visible_to(user), completed_at__isnull=True, retired_at__isnull=True
    ).select_related("patient__site", "document")
    return _in_scope(rows, user, Action.CONSENT_RECORD, "patient__site_id")


def saes_to_report(user, now) -> QuerySet:
    """Serious AEs whose initial report has not reached the sponsor: the 24-hour clock from the
    site's awareness (protocol "Safety reporting"; ICH E2A III.A.1 "immediately")."""
    rows = (
        SaeReport.objects.visible_to(user)
        .filter(retired_at__isnull=True, number=0, submitted_at__isnull=True)
        .select_related("adverse_event__patient__site")
    )
    return _in_scope(rows, user, Action.AE_REPORT, "adverse_event__patient__site_id")


def overdue_saes(user, now) -> QuerySet:
    """Every SAE report with a deadline passed and not met (safety.selectors.overdue_sae_reports)."""
    rows = overdue_sae_reports(user=user, now=now)
    return _in_scope(rows, user, Action.SPONSOR_REVIEW, "adverse_event__patient__site_id")


def recruitment_plan_months() -> int:
    return settings.RECRUITMENT_PLAN_MONTHS


def planned_by(site: Site, today: dt.date) -> int:
    """Patients a site should have randomised by ``today`` under the plan: its target spread
    evenly over the recruitment period (settings.RECRUITMENT_PLAN_MONTHS) from its activation,
    whole patients only, so a site is behind once it misses a whole patient."""
    if site.activated_at is None:
        return 0
    months_open = (today - timezone.localtime(site.activated_at).date()).days / DAYS_PER_MONTH
    return math.floor(site.recruitment_target * min(months_open / recruitment_plan_months(), 1.0))


def sites_behind_plan(user, now) -> QuerySet:
    """Active sites that have randomised fewer patients than their plan asks by today."""
    today = timezone.localdate(now)
    sites = _in_scope(
        Site.objects.visible_to(user).filter(status=Site.Status.ACTIVE, activated_at__isnull=False),
        user,
        Action.SITE_ACTIVATE,
        "pk",
    ).annotate(randomised=Count("patients__allocation"))
    # A site's plan needs its activation date and target: a handful of rows, one query.
    behind = [s.pk for s in sites if s.randomised < planned_by(s, today)]
    return sites.filter(pk__in=behind)


@dataclass(frozen=True)
class WorkList:
    """One role's list: what the home queue says, the page title, the action it is work for,
    the rows, and the columns (sortable ones with the ordering they mean)."""

    kind: str
    label: str
    title: str
    action: Action
    rows: Callable[[object, dt.datetime], QuerySet]
    columns: list[Column]
    default_sort: str
    cells: Callable[[object, dt.date], list]
    url: Callable[[object], str]
    urgent: bool = False
    empty: str = ""


def _date(value) -> str:
    return date_format(timezone.localtime(value) if isinstance(value, dt.datetime) else value, "d M Y") if value else ""


def _moment(value) -> str:
    return date_format(timezone.localtime(value), "d M Y H:i") if value else ""


def _sae_clock(report, today) -> str:
    due = report.due_at
    late = " — " + str(_("overdue")) if due and due < timezone.now() and not report.submitted_at else ""
    return f"{_moment(due)}{late}"


_PATIENT = Column(_("Patient"), "patient", ("patient__trial_number", "pk"))
_SAE_PATIENT = Column(_("Patient"), "patient", ("adverse_event__patient__trial_number", "pk"))

WORK_LISTS: dict[str, WorkList] = {
    w.kind: w
    for w in (
        WorkList(
            kind="eligibility",
            label=_("Eligibility assessments to confirm"),
            title=_("Eligibility assessments awaiting your confirmation"),
            action=Action.ELIGIBILITY_CONFIRM,
            rows=eligibility_to_confirm,
            columns=[
                _PATIENT,
                Column(_("Site"), "site", ("patient__site__code", "patient__trial_number", "pk")),
                Column(_("Patient status")),
                Column(_("Last changed"), "changed", ("updated_at", "pk")),
            ],
            default_sort="changed",
            cells=lambda a, today: [
                a.patient.trial_number,
                a.patient.site.code,
                a.patient.get_status_display(),
                _moment(a.updated_at),
            ],
            url=lambda a: reverse("patients:eligibility_confirm", args=[a.patient.trial_number]),
            empty=_("No eligibility assessment awaits confirmation."),
        ),
        WorkList(
            kind="saes-to-sign",
            label=_("SAE reports to sign"),
            title=_("SAE reports awaiting the investigator's signature"),
            action=Action.SAE_ASSESS_SIGN,
            rows=saes_to_sign,
            columns=[
                _SAE_PATIENT,
                Column(_("Event")),
                Column(_("Report")),
                Column(_("Site aware"), "aware", ("aware_at", "pk")),
            ],
            default_sort="aware",
            cells=lambda r, today: [
                r.adverse_event.patient.trial_number,
                r.adverse_event.term,
                _("initial") if r.number == 0 else _("follow-up %(n)s") % {"n": r.number},
                _moment(r.aware_at),
            ],
            url=lambda r: reverse("safety:sae_detail", args=[r.pk]),
            urgent=True,
            empty=_("No SAE report awaits your signature."),
        ),
        WorkList(
            kind="casebooks-to-sign",
            label=_("Casebooks to sign"),
            title=_("Casebooks ready for the investigator's sign-off"),
            action=Action.CASEBOOK_SIGN,
            rows=casebooks_to_sign,
            columns=[
                Column(_("Patient"), "patient", ("trial_number", "pk")),
                Column(_("Site"), "site", ("site__code", "trial_number", "pk")),
                Column(_("Patient status")),
            ],
            default_sort="patient",
            cells=lambda p, today: [p.trial_number, p.site.code, p.get_status_display()],
            url=lambda p: reverse("crf:casebook", args=[p.trial_number]),
            empty=_("No casebook is ready to sign."),
        ),
        WorkList(
            kind="reconsent",
            label=_("Re-consents due"),
            title=_("Patients to consent again on a new consent version"),
            action=Action.CONSENT_RECORD,
            rows=reconsents_due,
            columns=[
                _PATIENT,
                Column(_("New version"), "version", ("document__document_version", "pk")),
                Column(_("Due since"), "since", ("created_at", "pk")),
            ],
            default_sort="since",
            cells=lambda t, today: [t.patient.trial_number, t.document.document_version, _date(t.created_at)],
            url=lambda t: reverse("patients:consent_add", args=[t.patient.trial_number]),
            empty=_("No re-consent is due."),
        ),
        WorkList(
            kind="saes-to-report",
            label=_("SAEs to report to the sponsor"),
            title=_("Serious adverse events not yet reported to the sponsor (24-hour clock)"),
            action=Action.AE_REPORT,
            rows=saes_to_report,
            columns=[
                _SAE_PATIENT,
                Column(_("Event")),
                Column(_("Site aware"), "aware", ("aware_at", "pk")),
                Column(_("Report by"), "due", ("due_at", "pk")),
            ],
            default_sort="due",
            cells=lambda r, today: [
                r.adverse_event.patient.trial_number,
                r.adverse_event.term,
                _moment(r.aware_at),
                _sae_clock(r, today),
            ],
            url=lambda r: reverse("safety:sae_detail", args=[r.pk]),
            urgent=True,
            empty=_("Every serious adverse event has been reported to the sponsor."),
        ),
        WorkList(
            kind="overdue-saes",
            label=_("Overdue SAE reports"),
            title=_("SAE reports with a reporting deadline passed"),
            action=Action.SPONSOR_REVIEW,
            rows=overdue_saes,
            columns=[
                _SAE_PATIENT,
                Column(_("Site"), "site", ("adverse_event__patient__site__code", "due_at", "pk")),
                Column(_("Event")),
                Column(_("Report to the sponsor by"), "due", ("due_at", "pk")),
            ],
            default_sort="due",
            cells=lambda r, today: [
                r.adverse_event.patient.trial_number,
                r.adverse_event.patient.site.code,
                r.adverse_event.term,
                _moment(r.due_at),
            ],
            url=lambda r: reverse("safety:sae_detail", args=[r.pk]),
            urgent=True,
            empty=_("No SAE reporting deadline has passed."),
        ),
        WorkList(
            kind="recruitment-behind",
            label=_("Sites recruiting behind plan"),
            title=_("Active sites that have randomised fewer patients than planned by today"),
            action=Action.SITE_ACTIVATE,
            rows=sites_behind_plan,
            columns=[
                Column(_("Site"), "site", ("code", "pk")),
                Column(_("Active since"), "active", ("activated_at", "pk")),
                Column(_("Randomised"), "randomised", ("randomised", "pk")),
                Column(_("Planned by today")),
                Column(_("Target"), "target", ("recruitment_target", "pk")),
            ],
            default_sort="site",
            cells=lambda s, today: [
                f"{s.code} {s.name}",
                _date(s.activated_at),
                s.randomised,
                planned_by(s, today),
                s.recruitment_target,
            ],
            url=lambda s: reverse("sites:site_detail", args=[s.code]),
            empty=_("Every active site is on plan."),
        ),
    )
}
