"""Generated files of a site, for the role × site matrix."""

from reports.models import GeneratedFile


def _file(site):
    return {"file_id": GeneratedFile.objects.create(kind=GeneratedFile.Kind.CASEBOOK, site=site).pk}


URLS = {
    "reports:generated_file": ("get", _file),
}
