"""Who may do what in the NELMAS EDC: the one permission policy.

GCP (ICH E6(R3) 2.3, 3.6; protocol "Delegation (GCP): duties gate actions"): a site person may do
only what the PI has delegated on the site's delegation log, signed and current. Trial-wide roles
(trial manager, data manager, monitor, statistician) act on the trial as a whole; the system
administrator manages accounts and sees no trial data.

``POLICY`` is the one table: for every ``Action`` the trial-wide roles that may do it, the site
roles that may do it at a site, and the delegated ``Duty`` a site role needs for it there. Services
call ``require``; views, navigation, templates (``{% can %}`` in ``core.templatetags.policy``),
buttons and the API read ``can``. Nothing else decides who may do what.

What a rule means:

- a user whose trial-wide role is in ``trial_roles`` may do the action (on any site they can see);
- otherwise the user needs a delegation entry at the site that is current (started, not ended,
  signed off by the PI; the PI's own entry comes from the site's registration) whose role is in
  ``site_roles`` and, when ``duty`` is set, whose duties include it. Role and duty come from the
  same entry: a nurse entry with the SAE duty does not make its holder an investigator. The PI
  holds every duty at their own site: they delegate duties and stay responsible for all of them
  (ICH E6(R3) 2.3.1), so a duty added to ``Duty`` later needs no change to existing PI entries.
- ``can(user, action)`` without a site answers "at some site" (for navigation and buttons);
  services always pass the record's site.

A user's current delegation entries load in one query and are kept on the user object
(``User.delegation_grants``), which Django builds once per request.

Rules that depend on the record rather than the person (only the raiser or the data manager closes
a query; a locked dataset refuses writes) stay in the service, after ``require``.

How to add an action:

1. add a member to ``Action`` (value in snake_case, label in the imperative as a person reads it);
2. add its ``Rule`` to ``POLICY`` (a test fails for an action without a rule), naming the roles
   and the duty from the protocol and saying in ``source`` where the rule comes from;
3. call ``require(actor, Action.X, site)`` first thing in the service, and read ``can`` in the
   view, template and API that offer it. The policy page (``/policy/``) and the matrix test in
   ``tests/core/test_policy_matrix.py`` pick the new row up by themselves; give the matrix test a
   way to perform the action (``ATTEMPTS`` there) so it is proven through the service.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.translation import gettext_lazy as _

from .errors import NotPermitted
from .roles import SiteRole, TrialRole


class Duty(models.TextChoices):
    """Duties a PI delegates on the site's delegation log (protocol, "Delegation (GCP)")."""

    CONSENT = "consent", _("Take informed consent")
    ELIGIBILITY = "eligibility", _("Assess and confirm eligibility")
    RANDOMISATION = "randomisation", _("Randomise patients")
    CRF_ENTRY = "crf_entry", _("Enter and correct CRF data")
    AE_REPORTING = "ae_reporting", _("Record adverse events")
    SAE_ASSESSMENT = "sae_assessment", _("Assess and sign SAEs (medically qualified)")
    DRUG_ADMINISTRATION = "drug_administration", _("Administer Lutathera")
    SAMPLES = "samples", _("Collect and ship samples")
    QUERY_ANSWERING = "query_answering", _("Answer data queries")


# The duties each site role is normally delegated: what the delegation form proposes, the demo
# data and the test factories give. A nurse is not medically qualified, so never SAE assessment.
TYPICAL_DUTIES: dict[str, tuple[str, ...]] = {
    SiteRole.PRINCIPAL_INVESTIGATOR: tuple(Duty.values),
    SiteRole.SUB_INVESTIGATOR: tuple(Duty.values),
    SiteRole.RESEARCH_NURSE: tuple(d for d in Duty.values if d != Duty.SAE_ASSESSMENT),
}


class Action(models.TextChoices):
    """Every action the EDC allows. The label is what the policy page shows."""

    # Trial data as a whole
    TRIAL_DATA_VIEW = "trial_data_view", _("See patients, queries and safety of one's sites")
    # Patients
    SCREENING_LOG_ADD = "screening_log_add", _("Add to the screening log")
    PATIENT_REGISTER = "patient_register", _("Register a patient")
    CONSENT_RECORD = "consent_record", _("Record consent")
    PATIENT_WITHDRAW = "patient_withdraw", _("Record a withdrawal")
    ELIGIBILITY_ASSESS = "eligibility_assess", _("Assess eligibility")
    ELIGIBILITY_CONFIRM = "eligibility_confirm", _("Confirm eligibility (investigator)")
    CONSENT_DOCUMENT_VIEW = "consent_document_view", _("See consent document versions")
    CONSENT_DOCUMENT_MANAGE = "consent_document_manage", _("Add consent document versions")
    # Randomisation
    RANDOMISE = "randomise", _("Randomise a patient")
    RANDOMISATION_OVERVIEW = "randomisation_overview", _("See allocation balance and integrity")
    RANDOMISATION_SETUP = "randomisation_setup", _("Set up randomisation and view the allocation list")
    # CRFs, queries, locks
    CRF_ENTER = "crf_enter", _("Enter and correct CRF data, record visits")
    CRF_COMPLETE = "crf_complete", _("Mark a CRF complete")
    SAMPLE_ENTER = "sample_enter", _("Enter the biomarker-sample form")
    SCHEDULE_VIEW = "schedule_view", _("See the visit schedule")
    LAB_RANGES_VIEW = "lab_ranges_view", _("See the site laboratories' normal ranges")
    LAB_RANGES_MANAGE = "lab_ranges_manage", _("Record a site laboratory's normal range")
    SDV = "sdv", _("Verify source data (SDV)")
    SDV_QUEUE_VIEW = "sdv_queue_view", _("See the SDV queue")
    RECORD_STATUS_VIEW = "record_status_view", _("See the record status grid")
    QUERY_RAISE = "query_raise", _("Raise a query")
    QUERY_ANSWER = "query_answer", _("Answer a query")
    QUERY_CLOSE = "query_close", _("Close or re-open any query")
    QUERY_CLOSE_OWN = "query_close_own", _("Close or re-open a query one raised")
    FORM_LOCK = "form_lock", _("Lock a form")
    FORM_UNLOCK = "form_unlock", _("Unlock a form")
    CASEBOOK_SIGN = "casebook_sign", _("Sign a patient's casebook (investigator)")
    # Safety
    AE_REPORT = "ae_report", _("Report an adverse event or SAE")
    SAE_ASSESS_SIGN = "sae_assess_sign", _("Assess causality and sign an SAE report")
    SPONSOR_REVIEW = "sponsor_review", _("Sponsor review of an SAE")
    SUSAR_SUBMISSION_RECORD = "susar_submission_record", _("Record SUSAR submissions")
    LINE_LISTING = "line_listing", _("SAE and SUSAR line listings, reporting timelines")
    TIMELINES_MANAGE = "timelines_manage", _("Change the safety reporting timelines")
    MEDDRA_CODE = "meddra_code", _("Code adverse events in MedDRA")
    RSI_VIEW = "rsi_view", _("See Reference Safety Information versions")
    RSI_MANAGE = "rsi_manage", _("Add Reference Safety Information versions")
    # Data management
    DATASET_VIEW = "dataset_view", _("See the pre-lock checklist and locks")
    DATASET_LOCK = "dataset_lock", _("Lock the dataset")
    DATASET_UNLOCK = "dataset_unlock", _("Ask to unlock the dataset (with a reason)")
    DATASET_UNLOCK_APPROVE = "dataset_unlock_approve", _("Approve unlocking the dataset (second person)")
    EXPORT = "export", _("Export the dataset")
    BLANK_CRF_BOOK = "blank_crf_book", _("Generate the blank CRF book")
    # Dashboards
    DASHBOARD_RECRUITMENT = "dashboard_recruitment", _("See the recruitment dashboard")
    DASHBOARD_DATA_QUALITY = "dashboard_data_quality", _("See the data-quality dashboard")
    # Sites and delegation
    SITE_REGISTER = "site_register", _("Register and edit sites")
    SITE_ACTIVATE = "site_activate", _("Activate, hold or close a site")
    DELEGATION_MANAGE = "delegation_manage", _("Add or end delegation log entries")
    DELEGATION_SIGN = "delegation_sign", _("Sign off the delegation log (PI)")
    # Accounts and oversight
    ACCOUNT_MANAGE = "account_manage", _("Create and change accounts, reset two-factor")
    ACCOUNT_DEACTIVATE = "account_deactivate", _("Deactivate an account")
    ACCESS_REVIEW = "access_review", _("Review who has access")
    AUDIT_VIEW_ACCOUNTS = "audit_view_accounts", _("See account and role audit events")
    AUDIT_VIEW_TRIAL = "audit_view_trial", _("See the trial-data audit trail")
    POLICY_VIEW = "policy_view", _("See this permission policy")


@dataclass(frozen=True)
class Rule:
    """Who may do one action: trial-wide roles, or site roles holding ``duty`` at the site."""

    trial_roles: frozenset[str] = frozenset()
    site_roles: frozenset[str] = frozenset()
    duty: str | None = None
    refusal: str = ""
    source: str = ""


SITE_STAFF = frozenset(SiteRole.values)
INVESTIGATORS = frozenset({SiteRole.PRINCIPAL_INVESTIGATOR, SiteRole.SUB_INVESTIGATOR})
TM, DM, MON, STAT, SYS, CODER = (
    TrialRole.TRIAL_MANAGER,
    TrialRole.DATA_MANAGER,
    TrialRole.MONITOR,
    TrialRole.STATISTICIAN,
    TrialRole.SYSADMIN,
    TrialRole.MEDICAL_CODER,
)
DATA_ROLES = frozenset({TM, DM, MON, STAT})
_DELEGATION = "Protocol, Delegation (GCP); ICH E6(R3) 2.3"


def _rule(trial=(), site=(), duty=None, *, refusal: str, source: str = "") -> Rule:
    return Rule(frozenset(trial), frozenset(site), duty, refusal, source)


POLICY: dict[Action, Rule] = {
    Action.TRIAL_DATA_VIEW: _rule(
        (*DATA_ROLES, CODER),
        SITE_STAFF,
        refusal="You have no role that sees trial data.",
        source="Protocol: the system administrator sees no trial data; the coder reads the AEs it codes",
    ),
    Action.SCREENING_LOG_ADD: _rule(
        (),
        SITE_STAFF,
        Duty.ELIGIBILITY,
        refusal="Adding to the screening log needs the eligibility duty.",
        source=_DELEGATION,
    ),
    Action.PATIENT_REGISTER: _rule(
        (),
        SITE_STAFF,
        Duty.CONSENT,
        refusal="Registering a patient needs the consent duty at the site.",
        source=_DELEGATION,
    ),
    Action.CONSENT_RECORD: _rule(
        (),
        SITE_STAFF,
        Duty.CONSENT,
        refusal="Recording consent needs the consent duty at the site.",
        source=_DELEGATION,
    ),
    Action.PATIENT_WITHDRAW: _rule(
        (),
        SITE_STAFF,
        Duty.CONSENT,
        refusal="Recording a withdrawal needs the consent duty at the site.",
        source=_DELEGATION,
    ),
    Action.ELIGIBILITY_ASSESS: _rule(
        (),
        SITE_STAFF,
        Duty.ELIGIBILITY,
        refusal="Assessing eligibility needs the eligibility duty at the site.",
        source=_DELEGATION,
    ),
    Action.ELIGIBILITY_CONFIRM: _rule(
        (),
        INVESTIGATORS,
        Duty.ELIGIBILITY,
        refusal="Eligibility is confirmed by the PI or a delegated investigator of the site.",
        source=_DELEGATION + "; ICH E6(R3) 2.7 (investigator's medical decisions)",
    ),
    Action.CONSENT_DOCUMENT_VIEW: _rule((TM, DM, MON), refusal="Consent document versions are for the sponsor team."),
    Action.CONSENT_DOCUMENT_MANAGE: _rule((TM,), refusal="Only the trial manager manages consent document versions."),
    Action.RANDOMISE: _rule(
        (),
        SITE_STAFF,
        Duty.RANDOMISATION,
        refusal="Randomising needs the randomisation duty at the site.",
        source=_DELEGATION,
    ),
    Action.RANDOMISATION_OVERVIEW: _rule(
        (STAT, TM), refusal="Allocation balance is for the statistician and trial manager."
    ),
    Action.RANDOMISATION_SETUP: _rule(
        (STAT,),
        refusal="Only the statistician sets up randomisation.",
        source="ICH E9 2.3: the allocation schedule is concealed from those who recruit",
    ),
    Action.CRF_ENTER: _rule(
        (),
        SITE_STAFF,
        Duty.CRF_ENTRY,
        refusal="Entering CRF data needs the CRF data entry duty at the site.",
        source=_DELEGATION,
    ),
    Action.CRF_COMPLETE: _rule(
        (),
        SITE_STAFF,
        Duty.CRF_ENTRY,
        refusal="Completing a CRF needs the CRF data entry duty at the site.",
        source=_DELEGATION,
    ),
    Action.SAMPLE_ENTER: _rule(
        (),
        SITE_STAFF,
        Duty.SAMPLES,
        refusal="The biomarker-sample form needs the sample handling duty at the site.",
        source=_DELEGATION,
    ),
    Action.SCHEDULE_VIEW: _rule(DATA_ROLES, refusal="The visit schedule page is for the sponsor team."),
    Action.SDV: _rule((MON,), refusal="Source data verification is done by a monitor.", source="ICH E6(R3) 3.11.4"),
    Action.LAB_RANGES_VIEW: _rule((TM, DM, MON), refusal="The laboratory normal ranges page is for the sponsor team."),
    Action.LAB_RANGES_MANAGE: _rule(
        (TM, DM), refusal="Laboratory normal ranges are recorded by the trial manager or data manager."
    ),
    Action.SDV_QUEUE_VIEW: _rule((MON, DM, TM), refusal="The SDV queue is for monitors and data management."),
    Action.RECORD_STATUS_VIEW: _rule(
        (TM, DM, MON),
        SITE_STAFF,
        refusal="The record status grid is for site staff and the sponsor team (it shows arms: not the statistician).",
    ),
    Action.QUERY_RAISE: _rule((DM, MON), refusal="Queries are raised by the data manager or a monitor."),
    Action.QUERY_ANSWER: _rule(
        (),
        SITE_STAFF,
        Duty.QUERY_ANSWERING,
        refusal="Answering queries needs the query answering duty at the site.",
        source=_DELEGATION,
    ),
    Action.QUERY_CLOSE: _rule((DM,), refusal="The data manager closes queries others raised."),
    Action.QUERY_CLOSE_OWN: _rule(
        (DM, MON), refusal="The person who raised the query, or the data manager, closes it."
    ),
    Action.FORM_LOCK: _rule((DM,), refusal="Only the data manager locks forms."),
    Action.FORM_UNLOCK: _rule((DM,), refusal="Only the data manager unlocks forms."),
    Action.CASEBOOK_SIGN: _rule(
        (),
        INVESTIGATORS,
        refusal="The casebook is signed by the PI or a delegated investigator of the site.",
        source="ICH E6(R3) 2.12 (investigator attests the data)",
    ),
    Action.AE_REPORT: _rule(
        (),
        SITE_STAFF,
        Duty.AE_REPORTING,
        refusal="Reporting adverse events needs the AE reporting duty at the site.",
        source=_DELEGATION,
    ),
    Action.SAE_ASSESS_SIGN: _rule(
        (),
        INVESTIGATORS,
        Duty.SAE_ASSESSMENT,
        refusal="SAEs are assessed and signed by the PI or a delegated, medically qualified investigator.",
        source=_DELEGATION + "; ICH E2A III.A.1",
    ),
    Action.SPONSOR_REVIEW: _rule((TM,), refusal="The sponsor's review is done by the trial manager (sponsor safety)."),
    Action.SUSAR_SUBMISSION_RECORD: _rule((TM,), refusal="Regulatory submissions are recorded by the trial manager."),
    Action.LINE_LISTING: _rule(DATA_ROLES, refusal="Line listings are for the sponsor team."),
    Action.TIMELINES_MANAGE: _rule((TM,), refusal="The reporting timelines are set by the trial manager (sponsor)."),
    Action.MEDDRA_CODE: _rule(
        (CODER,),
        refusal="MedDRA coding is done by the medical coder.",
        source="ICH E2B(R3); MedDRA Term Selection: Points to Consider (coding by a trained coder)",
    ),
    Action.RSI_VIEW: _rule((TM, DM, MON), refusal="Reference Safety Information versions are for the sponsor team."),
    Action.RSI_MANAGE: _rule((TM,), refusal="RSI versions are added by the trial manager."),
    Action.DATASET_VIEW: _rule((DM, TM), refusal="The dataset lock page is for the data manager and trial manager."),
    Action.DATASET_LOCK: _rule((DM,), refusal="Only the data manager locks the dataset."),
    Action.DATASET_UNLOCK: _rule((DM,), refusal="Only the data manager asks to unlock the dataset."),
    Action.DATASET_UNLOCK_APPROVE: _rule(
        (TM, STAT),
        refusal="A trial manager or the statistician approves unlocking the dataset.",
        source="Protocol, Locks and sign-off: unlocking needs a reason and a second person",
    ),
    Action.EXPORT: _rule((DM,), refusal="Dataset exports are made by the data manager."),
    Action.BLANK_CRF_BOOK: _rule((TM, DM, MON), refusal="The blank CRF book is for the sponsor team."),
    Action.DASHBOARD_RECRUITMENT: _rule(
        DATA_ROLES, INVESTIGATORS, refusal="The recruitment dashboard is for the sponsor team and investigators."
    ),
    Action.DASHBOARD_DATA_QUALITY: _rule((TM, DM, MON), refusal="The data-quality dashboard is for the sponsor team."),
    Action.SITE_REGISTER: _rule((TM,), refusal="Only the trial manager registers and edits sites."),
    Action.SITE_ACTIVATE: _rule((TM,), refusal="Only the trial manager activates, holds or closes a site."),
    Action.DELEGATION_MANAGE: _rule(
        (TM,),
        {SiteRole.PRINCIPAL_INVESTIGATOR},
        refusal="Only the trial manager or the site's PI can change the delegation log.",
        source=_DELEGATION,
    ),
    Action.DELEGATION_SIGN: _rule(
        (),
        {SiteRole.PRINCIPAL_INVESTIGATOR},
        refusal="Only the site's principal investigator signs off the delegation log.",
        source=_DELEGATION,
    ),
    Action.ACCOUNT_MANAGE: _rule((SYS,), refusal="Only a system administrator manages accounts."),
    Action.ACCOUNT_DEACTIVATE: _rule(
        (SYS, TM), refusal="Only the trial manager or a system administrator can deactivate accounts."
    ),
    Action.ACCESS_REVIEW: _rule((SYS, TM), refusal="The access review is for the trial manager and administrator."),
    Action.AUDIT_VIEW_ACCOUNTS: _rule((SYS, TM), refusal="The audit trail is for the trial manager and administrator."),
    Action.AUDIT_VIEW_TRIAL: _rule(
        (TM,),
        refusal="The trial-data audit trail is for the trial manager.",
        source="Protocol: the system administrator sees no trial data",
    ),
    Action.POLICY_VIEW: _rule(
        (TM,), {SiteRole.PRINCIPAL_INVESTIGATOR}, refusal="The permission policy page is for the trial manager and PIs."
    ),
}

# Forms whose entry is a duty of its own rather than CRF data entry (protocol: sample handling).
FORM_ENTRY_ACTIONS: dict[str, Action] = {"biomarker_sample": Action.SAMPLE_ENTER}


def form_entry_action(form_code: str) -> Action:
    """The action that entering (and completing) the form ``form_code`` needs."""
    return FORM_ENTRY_ACTIONS.get(form_code, Action.CRF_ENTER)


def can(user, action: Action | str, site=None) -> bool:
    """Whether ``user`` may do ``action`` at ``site`` (a Site or its id; None: at some site)."""
    rule = POLICY[Action(action)]
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.trial_role and user.trial_role in rule.trial_roles:
        return True
    if not rule.site_roles:
        return False
    site_id = getattr(site, "pk", site)
    return any(
        role in rule.site_roles
        and (rule.duty is None or rule.duty in duties or role == SiteRole.PRINCIPAL_INVESTIGATOR)
        for held_site, role, duties in user.delegation_grants
        if site_id is None or held_site == site_id
    )


def action_site_ids(user, action: Action | str) -> frozenset[int] | None:
    """The sites at which ``user`` may do ``action``: None when a trial-wide role gives it at every
    site the user can see, else the ids of the sites whose delegation gives it (possibly none).
    For work lists, which must hold only what the user may act on."""
    rule = POLICY[Action(action)]
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.trial_role and user.trial_role in rule.trial_roles:
        return None
    return frozenset(site for site, _role, _duties in user.delegation_grants if can(user, action, site))


def require(user, action: Action | str, site=None) -> None:
    """Raise the one NotPermitted error unless ``can(user, action, site)``."""
    if not can(user, action, site):
        rule = POLICY[Action(action)]
        where = f" ({getattr(site, 'code', '')})" if getattr(site, "code", "") else ""
        raise NotPermitted(f"{rule.refusal}{where}".strip())


def allowed_actions(user, site=None) -> frozenset[Action]:
    """Every action ``user`` may do (at ``site``, or at some site): for navigation and buttons."""
    return frozenset(action for action in Action if can(user, action, site))


def deny_unless(user, action: Action | str, site=None) -> None:
    """For views: ``PermissionDenied`` (403) unless ``can``. A record outside the user's scope never
    gets here: its ``access_*`` function answered 404 first."""
    if not can(user, action, site):
        raise PermissionDenied


class UnknownAction(LookupError):
    """A template or view asked about an action the policy does not declare."""


class Allowed:
    """``can`` for one user (and site) as a template reads it: ``{% if may.randomise %}``.

    The context processor gives every page ``may`` for the user at any site; a page about one
    site's record passes ``Allowed(user, site)`` instead. An unknown action name is an error, so a
    misspelt button condition fails loudly rather than hiding the button."""

    def __init__(self, user, site=None) -> None:
        self.user, self.site = user, site

    def __getitem__(self, action: str) -> bool:
        if action not in Action.values:
            # Not a KeyError: the template engine would swallow that and hide the button silently.
            raise UnknownAction(f"No action {action!r} in the permission policy")
        return can(self.user, action, self.site)

    def __contains__(self, action: str) -> bool:
        return self[action]
