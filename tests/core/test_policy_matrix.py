"""The permission policy, proven through every interface, GENERATED FROM THE POLICY TABLE.

Source of the rule under test: protocol.md, "Delegation (GCP): duties gate actions" — a site
person may do only what the PI has delegated on the site's delegation log, signed and current; the
system checks the duty for every action, in every interface. ICH E6(R3) 2.3 (the investigator
delegates and supervises).

For every action of ``core.policy.Action`` and every role — trial-wide roles, and each site role
with the needed duty, without it, with an ended delegation and with one the PI has not signed —
the expected answer is read from ``POLICY`` by ``expected`` below (the table is the specification
the lead and the inspector read on /policy/). Each action is then tried through its service and
through the page (POST) and API that offer it: allowed exactly where the table says; refused
with NotPermitted / 403 (404 outside the user's scope) and nothing written otherwise.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.api_tokens import api_token_create
from accounts.models import AuditEvent, RecordVerification, Signature, User
from core.errors import DomainError, NotPermitted
from core.policy import POLICY, TYPICAL_DUTIES, Action, can
from core.roles import SiteRole, TrialRole
from core.verification import record_verify
from crf import services as crf
from crf.access import expected_forms
from crf.models import BiomarkerSample, Demographics
from patients import services as patients
from randomisation import services as randomisation
from reports import locking
from reports.models import GeneratedFile
from reports.services import generated_file_request
from safety import services as safety
from sites import services as sites
from tests.accounts.factories import TEST_PASSWORD, UserFactory
from tests.core.records import verifiable_records
from tests.crf.factories import scheduled_patient
from tests.patients.factories import ConsentDocumentFactory, eligible_answers
from tests.safety.factories import AE, rsi, serious_ae
from tests.sites.factories import DelegationFactory

pytestmark = pytest.mark.django_db

TRIAL_ROLES = [r.value for r in TrialRole if r]
SITE_ROLES = [r.value for r in SiteRole]
# (role, variant). The PI's own entry needs no sign-off and holds every duty (see core.policy).
CASES = [(role, "trial") for role in TRIAL_ROLES] + [
    (role, variant)
    for role in SITE_ROLES
    for variant in ("current", "no_duty", "ended", "unsigned")
    if not (role == SiteRole.PRINCIPAL_INVESTIGATOR and variant in ("no_duty", "unsigned"))
]


def expected(action: Action, role: str, variant: str) -> bool:
    """What the table says for one cell: the oracle of every test here."""
    rule = POLICY[action]
    if variant == "trial":
        return role in rule.trial_roles
    if variant in ("ended", "unsigned") or role not in rule.site_roles:
        return False
    return variant == "current" or rule.duty is None


def make_user(site, action: Action, role: str, variant: str) -> User:
    if variant == "trial":
        return UserFactory(trial_role=role)
    duties = list(TYPICAL_DUTIES[role])
    if variant == "no_duty":
        duties = [d for d in duties if d != POLICY[action].duty]
    fields = {}
    if variant == "ended":
        fields["end_date"] = timezone.localdate() - dt.timedelta(days=1)
    if variant == "unsigned":
        fields["pi_signed_off_at"] = None
    return DelegationFactory(site=site, role=role, duties=duties, **fields).user


def in_scope(user, site) -> bool:
    return user.sees_all_sites or user.has_site_role(site)


def writes() -> list[int]:
    """Row counts of every history table, the audit trail, signatures and generated files."""
    counts = [AuditEvent.objects.count(), Signature.objects.count(), GeneratedFile.objects.count()]
    counts.append(RecordVerification.objects.count())
    counts += [m.objects.count() for m in apps.get_models() if m.__name__.startswith("Historical")]
    return counts


@dataclass
class Trial:
    """Records of site A that the actions act on, made on first use by the world's own staff."""

    world: object

    @property
    def site(self):
        return self.world.site_a

    @cached_property
    def document(self):
        return ConsentDocumentFactory()

    @cached_property
    def patient(self):
        patient = scheduled_patient(self.site)
        patients.consent_record(
            actor=self.world.nurse_a,
            patient=patient,
            # With the optional sample consent: the biomarker-sample form is expected only with it (CRF 13).
            data={
                "document": self.document,
                "consented_at": timezone.now() - dt.timedelta(days=60),
                "samples_biobank": True,
            },
        )
        return patient

    @cached_property
    def candidate(self):
        """A consented patient not yet randomised (eligibility, randomisation)."""
        from tests.patients.factories import PatientFactory

        return PatientFactory(site=self.site)

    def visit_expecting(self, code: str):
        return next(v for v in self.patient.visits.order_by("sequence") if code in expected_forms(v))

    @cached_property
    def form(self):
        visit = self.visit_expecting("demographics")
        data = {"ethnicity": "white", "height_cm": 170, "weight_kg": 70}
        return crf.crf_save(model=Demographics, visit=visit, data=data, actor=self.world.nurse_a, expected_version=0)

    @cached_property
    def query(self):
        return crf.query_raise(form=self.form, field="ethnicity", text="Please check", actor=self.world.data_manager)

    @cached_property
    def report(self):
        rsi()
        ae = serious_ae(self.site, self.world.nurse_a)
        return ae.sae_reports.get(number=0)

    @cached_property
    def newcomer(self):
        """An account with no role yet: to delegate to, or to deactivate."""
        return UserFactory()

    @cached_property
    def entry(self):
        return DelegationFactory(site=self.site, pi_signed_off_at=None)


def _assessment():
    return {
        "pi_causality_lutathera": "possible",
        "pi_causality_amino_acids": "unrelated",
        "pi_causality_procedures": "unrelated",
        "pi_expectedness": "unexpected",
    }


# How to perform each action through its service: (trial, actor) -> anything. A refusal must be
# NotPermitted before anything is written; an allowed call may still meet a rule of the record
# (a form already complete, a checklist not met): that is a DomainError of another kind.
ATTEMPTS = {
    Action.LAB_RANGES_MANAGE: lambda t, u: crf.lab_reference_range_add(
        actor=u, site=t.site, limit="platelets_lln", value=150, effective_from=timezone.localdate()
    ),
    Action.SCREENING_LOG_ADD: lambda t, u: patients.screening_log_add(
        actor=u, site=t.site, data={"screened_on": timezone.localdate(), "age": 60, "sex": "F", "eligible": True}
    ),
    Action.PATIENT_REGISTER: lambda t, u: patients.patient_register(
        actor=u,
        site=t.site,
        data={
            "initials": "ZZ",
            "year_of_birth": 1960,
            "sex": "F",
            "liver_resection_date": timezone.localdate() - dt.timedelta(days=30),
            "primary_resection_date": timezone.localdate() - dt.timedelta(days=30),
        },
        consent={"document": t.document, "consented_at": timezone.now()},
        screening=None,
        confirm_possible_duplicate=True,
    ),
    Action.CONSENT_RECORD: lambda t, u: patients.consent_record(
        actor=u, patient=t.candidate, data={"document": t.document, "consented_at": timezone.now()}
    ),
    Action.PATIENT_WITHDRAW: lambda t, u: patients.patient_withdraw(
        actor=u,
        patient=t.candidate,
        data={
            "withdrawn_on": timezone.localdate(),
            "level": "treatment",
            "initiated_by": "patient",
            "reason": "Matrix",
        },
    ),
    Action.ELIGIBILITY_ASSESS: lambda t, u: patients.eligibility_save(
        actor=u, patient=t.candidate, data=eligible_answers(t.candidate), reason="Matrix"
    ),
    Action.ELIGIBILITY_CONFIRM: lambda t, u: patients.eligibility_confirm(
        actor=u, patient=t.candidate, password=TEST_PASSWORD
    ),
    Action.CONSENT_DOCUMENT_MANAGE: lambda t, u: patients.consent_document_add(
        actor=u,
        data={
            "document_version": f"9.{u.pk}",
            "document_date": timezone.localdate(),
            "valid_from": timezone.localdate(),
            "ethics_approval_date": timezone.localdate(),
        },
    ),
    Action.RANDOMISE: lambda t, u: randomisation.patient_randomise(patient=t.candidate, actor=u),
    Action.RANDOMISATION_SETUP: lambda t, u: randomisation.config_save(
        actor=u, data={"method": "blocks", "factors": list(randomisation.DEFAULT_FACTORS), "block_sizes": [2, 4]}
    ),
    Action.CRF_ENTER: lambda t, u: crf.visit_add_unscheduled(
        patient=t.patient, day=timezone.localdate(), reason="Matrix", actor=u
    ),
    Action.SAMPLE_ENTER: lambda t, u: crf.crf_save(
        model=BiomarkerSample,
        visit=t.visit_expecting("biomarker_sample"),
        data={"blood_tube_id": f"T{u.pk}"},
        actor=u,
        reason="Matrix",
    ),
    Action.CRF_COMPLETE: lambda t, u: crf.crf_mark_complete(form=t.form, actor=u),
    Action.SDV: lambda t, u: crf.crf_verify(form=t.form, actor=u),
    Action.QUERY_RAISE: lambda t, u: crf.query_raise(form=t.form, field="ethnicity", text="Matrix", actor=u),
    Action.QUERY_ANSWER: lambda t, u: crf.query_answer(query=t.query, text="Matrix answer", actor=u),
    Action.QUERY_CLOSE: lambda t, u: crf.query_close(query=t.query, actor=u, text="Matrix"),
    Action.FORM_LOCK: lambda t, u: crf.crf_lock(form=t.form, actor=u),
    Action.FORM_UNLOCK: lambda t, u: crf.crf_unlock(form=t.form, actor=u, reason="Matrix"),
    Action.CASEBOOK_SIGN: lambda t, u: crf.casebook_sign(patient=t.patient, actor=u, password=TEST_PASSWORD),
    Action.AE_REPORT: lambda t, u: safety.ae_save(
        patient=t.patient,
        data=AE | {"serious": False, "onset_date": timezone.localdate(), "aware_at": timezone.now()},
        actor=u,
    ),
    Action.SAE_ASSESS_SIGN: lambda t, u: safety.sae_sign(
        report=t.report, actor=u, password=TEST_PASSWORD, assessment=_assessment()
    ),
    Action.SPONSOR_REVIEW: lambda t, u: safety.sponsor_review(
        report=t.report, actor=u, causality="possible", expectedness="unexpected", sponsor_aware_at=timezone.now()
    ),
    Action.SUSAR_SUBMISSION_RECORD: lambda t, u: safety.susar_reported(report=t.report, actor=u),
    Action.TIMELINES_MANAGE: lambda t, u: safety.timelines_update(actor=u, data={}, reason="Matrix"),
    Action.MEDDRA_CODE: lambda t, u: safety.ae_code(
        ae=t.report.adverse_event, actor=u, llt_code="10016288", pt_code="10016288", version="27.0"
    ),
    Action.RSI_MANAGE: lambda t, u: safety.rsi_add(
        actor=u, data={"version": f"M{u.pk}", "effective_date": timezone.localdate(), "expected_terms": "Nausea"}
    ),
    Action.DATASET_LOCK: lambda t, u: locking.dataset_lock(actor=u, reason="Matrix"),
    Action.DATASET_UNLOCK: lambda t, u: locking.dataset_unlock_request(actor=u, reason="Matrix"),
    Action.DATASET_UNLOCK_APPROVE: lambda t, u: locking.dataset_unlock_approve(actor=u, reason="Matrix"),
    Action.EXPORT: lambda t, u: generated_file_request(kind=GeneratedFile.Kind.DATASET_EXPORT, actor=u),
    Action.BLANK_CRF_BOOK: lambda t, u: generated_file_request(kind=GeneratedFile.Kind.BLANK_CRF_BOOK, actor=u),
    Action.SITE_REGISTER: lambda t, u: sites.site_update(
        actor=u, site=t.site, data={"recruitment_target": 21}, reason="Matrix"
    ),
    Action.SITE_ACTIVATE: lambda t, u: sites.site_activate(actor=u, site=t.site),
    Action.DELEGATION_MANAGE: lambda t, u: sites.delegation_add(
        actor=u,
        site=t.site,
        user=t.newcomer,
        role=SiteRole.RESEARCH_NURSE,
        duties=["samples"],
        start_date=timezone.localdate(),
    ),
    Action.DELEGATION_SIGN: lambda t, u: sites.delegation_sign_off(actor=u, entry=t.entry, password=TEST_PASSWORD),
    Action.ACCOUNT_MANAGE: lambda t, u: account_services.user_create(
        actor=u, username=f"new{u.pk}", email=f"new{u.pk}@example.org", full_name="New", password="Ab-12345678-x"
    ),
    Action.ACCOUNT_DEACTIVATE: lambda t, u: account_services.user_deactivate(actor=u, user=t.newcomer, reason="Matrix"),
}

# Actions that only read: the page that offers them (GET), by URL name.
PAGES = {
    Action.TRIAL_DATA_VIEW: "patients:patient_list",
    Action.CONSENT_DOCUMENT_VIEW: "patients:consent_documents",
    Action.RANDOMISATION_OVERVIEW: "randomisation:overview",
    Action.SCHEDULE_VIEW: "crf:schedule",
    Action.RSI_VIEW: "safety:rsi_list",
    Action.DATASET_VIEW: "reports:dataset",
    Action.DASHBOARD_RECRUITMENT: "reports:recruitment",
    Action.DASHBOARD_DATA_QUALITY: "reports:data_quality",
    Action.ACCESS_REVIEW: "reports:access_review",
    Action.AUDIT_VIEW_ACCOUNTS: "accounts:audit_log",
    Action.POLICY_VIEW: "policy",
    Action.RECORD_STATUS_VIEW: "reports:record_status_grid",
    Action.SDV_QUEUE_VIEW: "reports:sdv_queue",
    Action.LAB_RANGES_VIEW: "crf:reference_ranges",
    Action.ACCOUNT_MANAGE: "accounts:user_list",
    Action.RANDOMISATION_SETUP: "randomisation:config",
    Action.LINE_LISTING: "safety:line_listing",
    Action.MEDDRA_CODE: "safety:coding_list",
}
# Actions proven elsewhere, with the test that does it.
ELSEWHERE = {
    Action.QUERY_CLOSE_OWN: "test_a_monitor_closes_the_query_they_raised_and_no_other",
    Action.AUDIT_VIEW_TRIAL: "test_sysadmin_audit_trail_holds_account_events_only",
}


def test_every_action_has_one_rule_and_a_proof():
    assert set(POLICY) == set(Action)
    unproven = set(Action) - set(ATTEMPTS) - set(PAGES) - set(ELSEWHERE)
    assert not unproven, f"give these actions an attempt in ATTEMPTS or a page in PAGES: {sorted(unproven)}"


@pytest.mark.parametrize("action", list(Action))
def test_can_answers_as_the_table_says_at_own_site_and_nothing_at_another(world, action):
    for role, variant in CASES:
        user = make_user(world.site_a, action, role, variant)
        want = expected(action, role, variant)
        assert can(user, action, world.site_a) is want, (action, role, variant)
        # Site staff of site A hold nothing at site B; trial-wide roles act at every site.
        assert can(user, action, world.site_b) is (want and variant == "trial"), (action, role, variant)


@pytest.mark.parametrize("action", sorted(ATTEMPTS))
def test_service_allows_exactly_where_the_table_says_and_writes_nothing_when_refused(world, action):
    trial = Trial(world)
    # Build the records the attempt needs before counting writes.
    for name in ("patient", "candidate", "form", "query", "report", "entry", "document", "newcomer"):
        getattr(trial, name)
    for role, variant in CASES:
        actor = make_user(world.site_a, action, role, variant)
        before = writes()
        if expected(action, role, variant):
            try:
                ATTEMPTS[action](trial, actor)
            except NotPermitted as exc:  # pragma: no cover - the failure message is the point
                pytest.fail(f"{role}/{variant} may {action} by the table but was refused: {exc}")
            except DomainError:
                pass  # a rule of the record, after the permission was granted
        else:
            with pytest.raises(NotPermitted):
                ATTEMPTS[action](trial, actor)
            assert writes() == before, f"{role}/{variant} was refused {action} but something was written"


def _page_posts(trial: Trial) -> dict:
    """Action -> (url, data, addresses a site record) for the page POST that offers it."""
    p, w, c = trial.patient, trial.world, trial.candidate.trial_number
    form_url = {"trial_number": p.trial_number, "code": trial.form.visit.code, "form_code": "demographics"}
    sample_visit = trial.visit_expecting("biomarker_sample")
    return {
        Action.PATIENT_REGISTER: (reverse("patients:patient_register", args=["GB01"]), {}, True),
        Action.SCREENING_LOG_ADD: (reverse("patients:screening_add", args=["GB01"]), {}, True),
        Action.CONSENT_RECORD: (reverse("patients:consent_add", args=[c]), {}, True),
        Action.PATIENT_WITHDRAW: (reverse("patients:withdrawal_add", args=[c]), {}, True),
        Action.ELIGIBILITY_ASSESS: (reverse("patients:eligibility_edit", args=[c]), {}, True),
        Action.ELIGIBILITY_CONFIRM: (reverse("patients:eligibility_confirm", args=[c]), {}, True),
        Action.CONSENT_DOCUMENT_MANAGE: (reverse("patients:consent_documents"), {}, False),
        Action.RANDOMISE: (reverse("randomisation:randomise", args=[c]), {}, True),
        Action.CRF_ENTER: (
            reverse("crf:visit_unscheduled", args=[p.trial_number]),
            {"day": timezone.localdate().isoformat(), "reason": "Matrix"},
            True,
        ),
        Action.SAMPLE_ENTER: (
            reverse("crf:form", args=[p.trial_number, sample_visit.code, "biomarker_sample"]),
            {"blood_tube_id": "T1", "version": "0"},
            True,
        ),
        Action.CRF_COMPLETE: (reverse("crf:action", kwargs=form_url | {"action": "complete"}), {}, True),
        Action.SDV: (reverse("crf:action", kwargs=form_url | {"action": "verify"}), {}, True),
        Action.FORM_LOCK: (reverse("crf:action", kwargs=form_url | {"action": "lock"}), {}, True),
        Action.FORM_UNLOCK: (reverse("crf:action", kwargs=form_url | {"action": "unlock"}), {"reason": "M"}, True),
        Action.QUERY_RAISE: (
            reverse("crf:action", kwargs=form_url | {"action": "query"}),
            {"field": "ethnicity", "text": "Matrix"},
            True,
        ),
        Action.QUERY_ANSWER: (
            reverse("crf:query_detail", args=[trial.query.pk]),
            {"action": "answer", "text": "Matrix"},
            True,
        ),
        Action.QUERY_CLOSE: (
            reverse("crf:query_detail", args=[trial.query.pk]),
            {"action": "close", "text": "Matrix"},
            True,
        ),
        Action.CASEBOOK_SIGN: (reverse("crf:casebook", args=[p.trial_number]), {}, True),
        Action.AE_REPORT: (reverse("safety:ae_new", args=[p.trial_number]), {}, True),
        Action.SAE_ASSESS_SIGN: (reverse("safety:sae_sign", args=[trial.report.pk]), {}, True),
        Action.SPONSOR_REVIEW: (reverse("safety:sae_action", args=[trial.report.pk, "review"]), {}, True),
        Action.SUSAR_SUBMISSION_RECORD: (reverse("safety:sae_action", args=[trial.report.pk, "submitted"]), {}, True),
        Action.RSI_MANAGE: (reverse("safety:rsi_list"), {}, False),
        Action.MEDDRA_CODE: (
            reverse("safety:ae_code", args=[trial.report.patient.trial_number, trial.report.adverse_event_id]),
            {"meddra_llt_code": "1"},
            True,
        ),
        Action.DATASET_LOCK: (reverse("reports:dataset"), {"action": "lock", "reason": "M"}, False),
        Action.LAB_RANGES_MANAGE: (reverse("crf:reference_ranges"), {}, False),
        Action.DATASET_UNLOCK: (reverse("reports:dataset"), {"action": "unlock", "reason": "M"}, False),
        Action.EXPORT: (reverse("reports:dataset"), {"action": "export"}, False),
        Action.BLANK_CRF_BOOK: (reverse("reports:blank_crf_book"), {}, False),
        Action.SITE_REGISTER: (reverse("sites:site_update", args=["GB01"]), {}, True),
        Action.SITE_ACTIVATE: (reverse("sites:site_status", args=["GB01", "hold"]), {"reason": "M"}, True),
        Action.DELEGATION_MANAGE: (reverse("sites:delegation_add", args=["GB01"]), {}, True),
        Action.DELEGATION_SIGN: (reverse("sites:delegation_sign", args=["GB01", trial.entry.pk]), {}, True),
        Action.ACCOUNT_MANAGE: (reverse("accounts:user_create"), {}, False),
        Action.ACCOUNT_DEACTIVATE: (
            reverse("reports:account_deactivate", args=[w.nurse_b.username]),
            {"reason": "M"},
            False,
        ),
    }


def test_every_write_action_has_a_page_post():
    # The statistician's set-up pages are GET-proven in PAGES; every other write is offered by a page.
    # The reporting timelines came with issue 24; their page is proven there.
    # The statistician approves an unlock with `lock_dataset --approve-unlock` (the dataset page is the
    # data manager's and trial manager's); the service attempt above proves the rule.
    later = {Action.RANDOMISATION_SETUP, Action.TIMELINES_MANAGE, Action.DATASET_UNLOCK_APPROVE}
    assert set(ATTEMPTS) - later <= set(_PAGE_POST_ACTIONS)


_PAGE_POST_ACTIONS = [
    Action.LAB_RANGES_MANAGE,
    Action.PATIENT_REGISTER, Action.SCREENING_LOG_ADD, Action.CONSENT_RECORD, Action.PATIENT_WITHDRAW,
    Action.ELIGIBILITY_ASSESS, Action.ELIGIBILITY_CONFIRM, Action.CONSENT_DOCUMENT_MANAGE, Action.RANDOMISE,
    Action.CRF_ENTER, Action.SAMPLE_ENTER, Action.CRF_COMPLETE, Action.SDV, Action.FORM_LOCK, Action.FORM_UNLOCK,
    Action.QUERY_RAISE, Action.QUERY_ANSWER, Action.QUERY_CLOSE, Action.CASEBOOK_SIGN, Action.AE_REPORT,
    Action.SAE_ASSESS_SIGN, Action.SPONSOR_REVIEW, Action.SUSAR_SUBMISSION_RECORD, Action.RSI_MANAGE,
    Action.MEDDRA_CODE, Action.DATASET_LOCK, Action.DATASET_UNLOCK, Action.EXPORT, Action.BLANK_CRF_BOOK,
    Action.SITE_REGISTER,
    Action.SITE_ACTIVATE, Action.DELEGATION_MANAGE, Action.DELEGATION_SIGN, Action.ACCOUNT_MANAGE,
    Action.ACCOUNT_DEACTIVATE,
]  # fmt: skip


@pytest.mark.parametrize("action", _PAGE_POST_ACTIONS)
def test_page_post_allows_exactly_where_the_table_says(client, world, action):
    trial = Trial(world)
    url, data, site_record = _page_posts(trial)[action]
    for role, variant in CASES:
        actor = make_user(world.site_a, action, role, variant)
        client.force_login(actor)
        before = writes()
        status = client.post(url, data).status_code
        if expected(action, role, variant):
            assert status not in (403, 404), f"{role}/{variant} may {action} by the table; page answered {status}"
        else:
            want = 404 if site_record and not in_scope(actor, world.site_a) else 403
            assert status == want, f"{role}/{variant} forged {action}: {status}, expected {want}"
            assert writes() == before


def test_record_sdv_service_and_page_allow_exactly_where_the_table_says(client, world):
    """Action.SDV also covers the consent, eligibility and SAE records (core.verification): through
    the service and each record's verify POST, allowed exactly where the table says."""
    records = verifiable_records(world.site_a)
    urls = [
        reverse("patients:consent_verify", args=[records.consent.patient.trial_number, records.consent.pk]),
        reverse("patients:eligibility_verify", args=[records.assessment.patient.trial_number]),
        reverse("safety:sae_verify", args=[records.report.pk]),
    ]
    for role, variant in CASES:
        actor = make_user(world.site_a, Action.SDV, role, variant)
        for record in records.all():
            if expected(Action.SDV, role, variant):
                record_verify(record=record, actor=actor)
                # Cleared again so the next allowed role verifies afresh (not a refusal of "already").
                RecordVerification.objects.filter(object_id=record.pk).delete()
            else:
                before = writes()
                with pytest.raises(NotPermitted):
                    record_verify(record=record, actor=actor)
                assert writes() == before
        client.force_login(actor)
        for url in urls:
            before = writes()
            status = client.post(url).status_code
            if expected(Action.SDV, role, variant):
                assert status == 302, (role, variant, url, status)
                RecordVerification.objects.all().delete()
            else:
                want = 404 if not in_scope(actor, world.site_a) else 403
                assert status == want, (role, variant, url, status)
                assert writes() == before


def test_the_record_sdv_queue_opens_exactly_where_the_table_says(client, world):
    for role, variant in CASES:
        client.force_login(make_user(world.site_a, Action.SDV_QUEUE_VIEW, role, variant))
        status = client.get(reverse("reports:sdv_records")).status_code
        assert status == (200 if expected(Action.SDV_QUEUE_VIEW, role, variant) else 403), (role, variant)


@pytest.mark.parametrize("action", sorted(PAGES))
def test_read_page_opens_exactly_where_the_table_says(client, world, action):
    for role, variant in CASES:
        client.force_login(make_user(world.site_a, action, role, variant))
        status = client.get(reverse(PAGES[action])).status_code
        if expected(action, role, variant):
            assert status == 200, f"{role}/{variant} may see {PAGES[action]}; got {status}"
        else:
            assert status == 403, f"{role}/{variant} must not see {PAGES[action]}; got {status}"


def _api_calls(trial: Trial) -> dict:
    """Action -> (method, path, body) of the API endpoint that offers it."""
    p, c = trial.patient, trial.candidate
    return {
        Action.PATIENT_REGISTER: ("post", "/api/v1/patients/", {"site": "GB01"}),
        Action.CONSENT_RECORD: ("post", f"/api/v1/patients/{c.trial_number}/consent/", {}),
        Action.ELIGIBILITY_ASSESS: ("post", f"/api/v1/patients/{c.trial_number}/eligibility/", {}),
        Action.RANDOMISE: ("post", f"/api/v1/patients/{c.trial_number}/randomise/", {}),
        Action.CRF_ENTER: (
            "put",
            f"/api/v1/patients/{p.trial_number}/forms/demographics/",
            {"visit": trial.form.visit.code, "data": {"weight_kg": 71}, "reason": "Matrix", "version": 0},
        ),
        Action.AE_REPORT: ("post", f"/api/v1/patients/{p.trial_number}/adverse-events/", {}),
        Action.QUERY_ANSWER: ("post", f"/api/v1/queries/{trial.query.pk}/answer/", {"text": "Matrix"}),
        Action.QUERY_CLOSE: ("post", f"/api/v1/queries/{trial.query.pk}/close/", {"text": "Matrix"}),
        Action.EXPORT: ("post", "/api/v1/exports/", {}),
        Action.MEDDRA_CODE: (
            "post",
            f"/api/v1/patients/{trial.report.patient.trial_number}/adverse-events/{trial.report.adverse_event_id}/coding/",
            {"meddra_llt_code": "10016288", "meddra_pt_code": "10016288", "meddra_version": "27.0"},
        ),
    }


_API_ACTIONS = [
    Action.PATIENT_REGISTER, Action.CONSENT_RECORD, Action.ELIGIBILITY_ASSESS, Action.RANDOMISE, Action.CRF_ENTER,
    Action.AE_REPORT, Action.QUERY_ANSWER, Action.QUERY_CLOSE, Action.EXPORT, Action.MEDDRA_CODE,
]  # fmt: skip


@pytest.mark.parametrize("action", _API_ACTIONS)
def test_api_allows_exactly_where_the_table_says(world, action):
    trial = Trial(world)
    method, path, body = _api_calls(trial)[action]
    for role, variant in CASES:
        actor = make_user(world.site_a, action, role, variant)
        if not actor.is_active:
            continue
        _token, key = api_token_create(user=actor, name="matrix")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        before = writes()
        response = getattr(client, method)(path, body, format="json")
        if expected(action, role, variant):
            assert response.status_code not in (403, 404), (role, variant, action, response.content[:300])
        else:
            record = action != Action.EXPORT and action != Action.PATIENT_REGISTER
            want = {404} if record and not in_scope(actor, world.site_a) else {403}
            if action == Action.PATIENT_REGISTER and not in_scope(actor, world.site_a):
                want = {403, 404}  # the site is looked up in the caller's scope first
            assert response.status_code in want, (role, variant, action, response.status_code, response.content[:300])
            # The token's last use is bookkeeping of the account, not trial data.
            assert writes()[1:] == before[1:]


def test_a_monitor_closes_the_query_they_raised_and_no_other(world):
    """QUERY_CLOSE_OWN: the person who raised a query closes it; the data manager closes any."""
    trial = Trial(world)
    other_monitor = UserFactory(trial_role=TrialRole.MONITOR)
    own = crf.query_raise(form=trial.form, field="height_cm", text="Height?", actor=world.monitor)
    with pytest.raises(NotPermitted):
        crf.query_close(query=own, actor=other_monitor)
    with pytest.raises(NotPermitted):
        crf.query_close(query=trial.query, actor=world.monitor)  # raised by the data manager
    assert crf.query_close(query=own, actor=world.monitor).status == "closed"
    assert crf.query_close(query=trial.query, actor=world.data_manager).status == "closed"
