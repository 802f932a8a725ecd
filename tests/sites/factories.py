import datetime as dt

import factory
from django.utils import timezone

from core.policy import TYPICAL_DUTIES
from core.roles import SiteRole
from sites.models import Delegation, Site
from tests.accounts.factories import UserFactory


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"GB{n % 100:02d}")
    name = factory.Sequence(lambda n: f"Hospital {n}")
    country = "GB"
    timezone = "Europe/London"
    pi = factory.SubFactory(UserFactory)
    recruitment_target = 20
    status = Site.Status.ACTIVE
    ethics_approval_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=90))
    rd_approval_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=80))
    contract_signed_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=70))
    initiation_visit_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=60))
    pi_cv_on_file = True
    pi_gcp_on_file = True

    @factory.post_generation
    def pi_delegation(self, create, extracted, **kwargs):
        if create:
            DelegationFactory(site=self, user=self.pi, role=SiteRole.PRINCIPAL_INVESTIGATOR)


class DelegationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Delegation

    site = factory.SubFactory(SiteFactory)
    user = factory.SubFactory(UserFactory)
    role = SiteRole.RESEARCH_NURSE
    # Signed and current, with the duties the role normally holds (core.policy.TYPICAL_DUTIES).
    duties = factory.LazyAttribute(lambda d: list(TYPICAL_DUTIES[d.role]))
    start_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=30))
    pi_signed_off_at = factory.LazyFunction(timezone.now)
