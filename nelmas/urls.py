from django.urls import include, path

from core.views import policy_page

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("sites/", include("sites.urls")),
    path("patients/", include("patients.urls")),
    path("randomisation/", include("randomisation.urls")),
    path("crf/", include("crf.urls")),
    path("safety/", include("safety.urls")),
    path("reports/", include("reports.urls")),
    path("api/", include("nelmas.api_urls")),
    path("policy/", policy_page, name="policy"),
]

handler403 = "nelmas.views.error_403"
handler404 = "nelmas.views.error_404"
handler500 = "nelmas.views.error_500"
