"""Every domain's visible_to() gives exactly the records of the sites a user may see: checked
record by record against an oracle built from the delegation log, for every kind of user."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from core.roles import ALL_SITES_ROLES, SiteRole, TrialRole
from crf import services
from crf.models import Demographics, Query, Visit
from patients.models import Patient, ScreeningEntry
from safety.models import AdverseEvent, SaeReport
from sites.models import Delegation, Site
from tests.accounts.factories import UserFactory
from tests.crf.factories import scheduled_patient
from tests.safety.factories import serious_ae
from tests.sites.factories import DelegationFactory, SiteFactory

pytestmark = pytest.mark.django_db

# model → how to reach the record's site id in Python (the oracle never uses visible_to).
SITE_OF = {
    Site: lambda r: r.pk,
    Delegation: lambda r: r.site_id,
    Patient: lambda r: r.site_id,
    ScreeningEntry: lambda r: r.site_id,
    Visit: lambda r: r.patient.site_id,
    Query: lambda r: r.patient.site_id,
    AdverseEvent: lambda r: r.patient.site_id,
    SaeReport: lambda r: r.adverse_event.patient.site_id,
}


def _expected_sites(user) -> set[int] | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    if user.trial_role in ALL_SITES_ROLES:
        return None
    return set(Delegation.objects.current().filter(user=user).values_list("site_id", flat=True))


@pytest.fixture
def trial(world):
    """Records of every kind at both sites (and a third site nobody below works at)."""
    site_c = SiteFactory(code="DE01", name="Berlin", country="DE", timezone="Europe/Berlin")
    for site, nurse in ((world.site_a, world.nurse_a), (world.site_b, world.nurse_b)):
        patient = scheduled_patient(site)
        form = services.crf_save(
            model=Demographics,
            visit=patient.visits.get(code="RAND"),
            data={"height_cm": Decimal("170"), "weight_kg": Decimal("70")},
            actor=nurse,
        )
        services.query_raise(form=form, field="height_cm", text="check", actor=world.data_manager)
        serious_ae(site, nurse)
        ScreeningEntry.objects.create(
            site=site, screened_on=timezone.localdate(), age=60, sex="F", eligible=False, created_by=nurse
        )
    scheduled_patient(site_c)
    both = DelegationFactory(site=world.site_a, role=SiteRole.RESEARCH_NURSE).user
    DelegationFactory(site=world.site_b, user=both, role=SiteRole.SUB_INVESTIGATOR)
    ended = DelegationFactory(
        site=world.site_b,
        start_date=timezone.localdate() - dt.timedelta(days=90),
        end_date=timezone.localdate() - dt.timedelta(days=1),
    ).user
    inactive_tm = UserFactory(trial_role=TrialRole.TRIAL_MANAGER, username="tm-gone", is_active=False)
    inactive_nurse = DelegationFactory(site=world.site_a).user
    inactive_nurse.is_active = False
    inactive_nurse.save()
    return {
        "trial manager": world.trial_manager,
        "data manager": world.data_manager,
        "monitor": world.monitor,
        "statistician": world.statistician,
        "system administrator": world.sysadmin,
        "nurse A": world.nurse_a,
        "nurse B": world.nurse_b,
        "PI A": world.pi_a,
        "nurse at both sites": both,
        "delegation ended": ended,
        "inactive trial manager": inactive_tm,
        "inactive nurse": inactive_nurse,
        "anonymous": AnonymousUser(),
    }


def test_the_trial_has_records_of_every_kind_at_every_site(trial, world):
    for model, site_of in SITE_OF.items():
        sites = {site_of(r) for r in model.objects.all()}
        assert {world.site_a.pk, world.site_b.pk} <= sites, model.__name__


@pytest.mark.parametrize("model", list(SITE_OF), ids=lambda m: m.__name__)
def test_visible_to_is_exactly_the_users_sites_for_every_user(trial, model):
    everything = list(model.objects.all())
    for label, user in trial.items():
        if hasattr(user, "refresh_from_db"):
            user = type(user).objects.get(pk=user.pk)  # fresh: no cached roles
        allowed = _expected_sites(user)
        expected = {r.pk for r in everything if allowed is None or SITE_OF[model](r) in allowed}
        got = set(model.objects.visible_to(user).values_list("pk", flat=True))
        assert got == expected, f"{model.__name__} for the {label}"
        if allowed is not None and label != "anonymous":
            assert not any(SITE_OF[model](r) not in allowed for r in model.objects.visible_to(user))


def test_scope_filters_on_the_site_column_not_a_join_of_sites(world):
    """The plain form the planner can use an index for: site staff filter on site ids, trial-wide
    roles not at all."""
    staff_sql = str(Patient.objects.visible_to(world.nurse_a).order_by().query)
    assert '"sites_site"' not in staff_sql and f'"site_id" IN ({world.site_a.pk})' in staff_sql
    assert " WHERE " not in str(Patient.objects.visible_to(world.data_manager).order_by().query)
    assert "sites_site" not in str(Query.objects.visible_to(world.nurse_a).query)
