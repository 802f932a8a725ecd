"""/api/v1/ routes. Each domain owns its API module; this file only maps paths."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.api import api_not_found
from crf import api as crf_api
from patients import api as patients_api
from randomisation import api as randomisation_api
from reports import api as reports_api
from safety import api as safety_api
from sites import api as sites_api

P = "v1/patients/<str:trial_number>/"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[]), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file, so the CSP needs no inline script.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", permission_classes=[], authentication_classes=[]),
        name="api-docs",
    ),
    path("v1/sites/", sites_api.SiteList.as_view(), name="api-sites"),
    path("v1/patients/", patients_api.PatientList.as_view(), name="api-patients"),
    path(P, patients_api.PatientDetail.as_view(), name="api-patient"),
    path(P + "consent/", patients_api.PatientConsent.as_view(), name="api-patient-consent"),
    path(P + "eligibility/", patients_api.PatientEligibility.as_view(), name="api-patient-eligibility"),
    path(P + "randomise/", randomisation_api.PatientRandomise.as_view(), name="api-patient-randomise"),
    path(P + "visits/", crf_api.PatientVisits.as_view(), name="api-patient-visits"),
    path(P + "forms/<str:form_code>/", crf_api.PatientForm.as_view(), name="api-patient-form"),
    path(P + "adverse-events/", safety_api.PatientAdverseEvents.as_view(), name="api-patient-aes"),
    path(P + "adverse-events/<int:ae_id>/", safety_api.PatientAdverseEvent.as_view(), name="api-patient-ae"),
    path(
        P + "adverse-events/<int:ae_id>/coding/",
        safety_api.PatientAdverseEventCoding.as_view(),
        name="api-patient-ae-coding",
    ),
    path("v1/queries/", crf_api.QueryList.as_view(), name="api-queries"),
    path("v1/queries/<int:query_id>/<str:action>/", crf_api.QueryAction.as_view(), name="api-query-action"),
    path("v1/exports/", reports_api.ExportList.as_view(), name="api-exports"),
    path("v1/exports/<int:export_id>/", reports_api.ExportDetail.as_view(), name="api-export"),
    path("v1/exports/<int:export_id>/download/", reports_api.ExportDownload.as_view(), name="api-export-download"),
    # Last: any other path under /api/ answers in the API's JSON error shape, not the HTML 404 page.
    re_path(r"^", api_not_found),
]
