"""Generated files of a site, for the role × site matrix."""

from reports.models import GeneratedFile


def _file(site):
    return {"file_id": GeneratedFile.objects.create(kind=GeneratedFile.Kind.CASEBOOK, site=site).pk}


URLS = {
    "reports:generated_file": ("get", _file),
}


def _patient(site):
    from tests.crf.factories import scheduled_patient

    return {"trial_number": scheduled_patient(site).trial_number}


def _sae(site):
    from core.roles import SiteRole
    from sites.models import Delegation
    from tests.safety.factories import serious_ae

    nurse = Delegation.objects.filter(site=site, role=SiteRole.RESEARCH_NURSE).first().user
    return {"report_id": serious_ae(site, nurse).sae_reports.get().pk}


URLS |= {
    "reports:casebook_pdf": ("post", _patient),
    "reports:sae_pdf": ("post", _sae),
}
