"""Load the demo data: accounts for every role, sites in every state, a signed delegation log.

Idempotent: running it again changes nothing that is already there. Later domains extend it so the
demo always shows every feature.
"""

import datetime as dt
from importlib import import_module

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import user_create
from core.roles import SiteRole, TrialRole
from sites.models import Delegation, Duty, Site
from sites.services import delegation_add, delegation_sign_off, site_activate, site_register, site_update

DEMO_PASSWORD = "nelmas-demo-2026"  # noqa: S105 - demo accounts only, printed on purpose

ACCOUNTS = [
    # username, full name, trial-wide role
    ("tm", "Tessa Manning", TrialRole.TRIAL_MANAGER),
    ("dm", "Daniel Mercer", TrialRole.DATA_MANAGER),
    ("monitor", "Mona Ito", TrialRole.MONITOR),
    ("stats", "Stefan Lindqvist", TrialRole.STATISTICIAN),
    ("coder", "Carla Odum", TrialRole.MEDICAL_CODER),
    ("admin", "Ada Minsky", TrialRole.SYSADMIN),
    ("pi.gb01", "Dr Priya Iyer", ""),
    ("nurse.gb01", "Nora Green", ""),
    ("pi.nl01", "Dr Pieter de Vries", ""),
    ("nurse.nl01", "Nienke Bakker", ""),
    ("pi.de01", "Dr Paula Weber", ""),
]

SITES = [
    # code, name, country, timezone, PI username, target, checklist complete
    ("GB01", "Hammersmith Hospital, London", "GB", "Europe/London", "pi.gb01", 30, True),
    ("NL01", "Erasmus MC, Rotterdam", "NL", "Europe/Amsterdam", "pi.nl01", 30, True),
    ("DE01", "Charité, Berlin", "DE", "Europe/Berlin", "pi.de01", 30, False),
]

# Domain demo modules, in dependency order (sites ← patients ← randomisation ← crf ← safety). The
# simulated history (demo.history) comes after the curated patients are registered, so their trial
# numbers stay the first, and before they are randomised today, so the list is used in time order.
DEMO_MODULES: list[str] = ["demo.patients", "demo.history", "demo.randomisation", "demo.crf", "demo.safety"]

NURSE_DUTIES = [
    Duty.CONSENT,
    Duty.ELIGIBILITY,
    Duty.RANDOMISATION,
    Duty.CRF_ENTRY,
    Duty.AE_REPORTING,
    Duty.SAMPLES,
    Duty.QUERY_ANSWERING,
]


class Command(BaseCommand):
    help = "Load demo accounts and sites (idempotent) and print the demo logins."

    @transaction.atomic
    def add_arguments(self, parser):
        parser.add_argument(
            "--base-only",
            action="store_true",
            help="accounts, sites and the randomisation list only (simulate_trial builds the rest)",
        )
        parser.add_argument(
            "--history",
            type=int,
            default=None,
            help="patients of simulated history over the past 14 months (default 36; 0 for none)",
        )

    def handle(self, *args, base_only=False, history=None, **options):
        users = {}
        for username, full_name, role in ACCOUNTS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = user_create(
                    actor=None,
                    username=username,
                    email=f"{username}@demo.nelmas.invalid",
                    full_name=full_name,
                    password=DEMO_PASSWORD,
                    trial_role=role,
                )
            users[username] = user
        tm = users["tm"]
        past = timezone.localdate() - dt.timedelta(days=120)
        for code, name, country, tz, pi, target, complete in SITES:
            site = Site.objects.filter(code=code).first()
            if site is None:
                checklist = (
                    {
                        "ethics_approval_date": past,
                        "rd_approval_date": past + dt.timedelta(days=14),
                        "contract_signed_date": past + dt.timedelta(days=20),
                        "initiation_visit_date": past + dt.timedelta(days=30),
                        "pi_cv_on_file": True,
                        "pi_gcp_on_file": True,
                    }
                    if complete
                    else {"ethics_approval_date": past, "pi_cv_on_file": True}
                )
                site = site_register(
                    actor=tm,
                    data={
                        "code": code,
                        "name": name,
                        "country": country,
                        "timezone": tz,
                        "pi": users[pi],
                        "recruitment_target": target,
                        **checklist,
                    },
                )
                if complete:
                    site_activate(actor=tm, site=site)
                else:
                    # A site still setting up opens next month: the forecast counts it from then.
                    site_update(
                        actor=tm,
                        site=site,
                        data={"planned_activation_date": timezone.localdate() + dt.timedelta(days=30)},
                        reason="Planned activation agreed at the site initiation planning call",
                    )
            nurse = users.get(f"nurse.{code.lower()}")
            if nurse and not Delegation.objects.filter(site=site, user=nurse).exists():
                entry = delegation_add(
                    actor=tm,
                    site=site,
                    user=nurse,
                    role=SiteRole.RESEARCH_NURSE,
                    duties=NURSE_DUTIES,
                    start_date=past + dt.timedelta(days=30),
                )
                delegation_sign_off(actor=users[pi], entry=entry, password=DEMO_PASSWORD)

        # Each domain adds its demo records after the sites exist, in dependency order. A domain's
        # ``demo.seed(stdout=...)`` must be idempotent like this command.
        for module_name in ["demo.randomisation"] if base_only else DEMO_MODULES:
            extra = {"patients": history} if module_name == "demo.history" and history is not None else {}
            import_module(module_name).seed(stdout=self.stdout, **extra)

        self.stdout.write(self.style.SUCCESS("Demo data ready. Log in at http://127.0.0.1:8000 with:"))
        for username, full_name, role in ACCOUNTS:
            label = TrialRole(role).label if role else "site staff"
            self.stdout.write(f"  {username:<12} {DEMO_PASSWORD}   {full_name} ({label})")
