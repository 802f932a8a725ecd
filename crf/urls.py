from django.urls import path

from . import views

app_name = "crf"

urlpatterns = [
    path("schedule/", views.schedule_page, name="schedule"),
    path("laboratory-ranges/", views.reference_ranges, name="reference_ranges"),
    path("sdv-plan/", views.sdv_plan_page, name="sdv_plan"),
    path("queries/", views.query_list, name="query_list"),
    path("queries/close/", views.query_bulk_close, name="query_bulk_close"),
    path("reminders/", views.my_reminders, name="reminders"),
    path("queries/<int:query_id>/", views.query_detail, name="query_detail"),
    path("patients/<str:trial_number>/casebook/", views.casebook, name="casebook"),
    path("patients/<str:trial_number>/visits/unscheduled/", views.visit_unscheduled, name="visit_unscheduled"),
    path("patients/<str:trial_number>/<str:code>/", views.visit_detail, name="visit"),
    path("patients/<str:trial_number>/<str:code>/missed/", views.visit_missed, name="visit_missed"),
    path("patients/<str:trial_number>/<str:code>/done/", views.visit_done, name="visit_done"),
    path("patients/<str:trial_number>/<str:code>/<str:form_code>/not-done/", views.form_not_done, name="form_not_done"),
    path("patients/<str:trial_number>/<str:code>/<str:form_code>/derive/", views.crf_derive, name="derive"),
    path("patients/<str:trial_number>/<str:code>/<str:form_code>/", views.crf_form, name="form"),
    path("patients/<str:trial_number>/<str:code>/<str:form_code>/<int:entry>/", views.crf_form, name="entry"),
    path(
        "patients/<str:trial_number>/<str:code>/<str:form_code>/<int:entry>/history/",
        views.crf_history,
        name="entry_history",
    ),
    path(
        "patients/<str:trial_number>/<str:code>/<str:form_code>/<int:entry>/<str:action>/",
        views.crf_action,
        name="entry_action",
    ),
    path("patients/<str:trial_number>/<str:code>/<str:form_code>/history/", views.crf_history, name="history"),
    path("patients/<str:trial_number>/<str:code>/<str:form_code>/<str:action>/", views.crf_action, name="action"),
]
