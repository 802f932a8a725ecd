from django.urls import path

from . import views

app_name = "safety"

urlpatterns = [
    path("sae/", views.sae_list, name="sae_list"),
    path("sae/<int:report_id>/", views.sae_detail, name="sae_detail"),
    path("sae/<int:report_id>/sign/", views.sae_sign, name="sae_sign"),
    path("sae/<int:report_id>/verify/", views.sae_verify, name="sae_verify"),
    path("sae/<int:report_id>/history/", views.sae_history, name="sae_history"),
    path("sae/<int:report_id>/<str:action>/", views.sae_action, name="sae_action"),
    path("listing/", views.listing, name="listing"),
    path("line-listing/", views.line_listing, name="line_listing"),
    path("rsi/", views.rsi_list, name="rsi_list"),
    path("coding/", views.coding_list, name="coding_list"),
    path("timelines/", views.timelines, name="timelines"),
    path("patients/<str:trial_number>/aes/", views.ae_list, name="ae_list"),
    path("patients/<str:trial_number>/aes/new/", views.ae_form, name="ae_new"),
    path("patients/<str:trial_number>/aes/<int:ae_id>/", views.ae_form, name="ae_edit"),
    path("patients/<str:trial_number>/aes/<int:ae_id>/history/", views.ae_history, name="ae_history"),
    path("patients/<str:trial_number>/aes/<int:ae_id>/code/", views.ae_code, name="ae_code"),
]
