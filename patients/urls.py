from django.urls import path

from . import views

app_name = "patients"

urlpatterns = [
    path("", views.patient_list, name="patient_list"),
    path("screening/", views.screening_list, name="screening_list"),
    path("consent-documents/", views.consent_documents, name="consent_documents"),
    path("sites/<str:code>/register/", views.patient_register, name="patient_register"),
    path("sites/<str:code>/screening/new/", views.screening_add, name="screening_add"),
    path("<str:trial_number>/", views.patient_detail, name="patient_detail"),
    path("<str:trial_number>/history/", views.patient_history, name="patient_history"),
    path("<str:trial_number>/registration/", views.registration_correct, name="registration_correct"),
    path("<str:trial_number>/consent/", views.consent_add, name="consent_add"),
    path("<str:trial_number>/consent/<int:consent_id>/verify/", views.consent_verify, name="consent_verify"),
    path("<str:trial_number>/consent/samples/withdraw/", views.sample_consent_withdraw, name="sample_consent_withdraw"),
    path("<str:trial_number>/withdraw/", views.withdrawal_add, name="withdrawal_add"),
    path("<str:trial_number>/eligibility/", views.eligibility_edit, name="eligibility_edit"),
    path("<str:trial_number>/eligibility/confirm/", views.eligibility_confirm, name="eligibility_confirm"),
    path("<str:trial_number>/eligibility/verify/", views.eligibility_verify, name="eligibility_verify"),
    path("<str:trial_number>/eligibility/history/", views.eligibility_history, name="eligibility_history"),
]
