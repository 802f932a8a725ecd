from django.urls import path

from . import views, worklist_views

app_name = "reports"

urlpatterns = [
    path("files/<int:file_id>/", views.generated_file_detail, name="generated_file"),
    path("files/<int:file_id>/download/", views.generated_file_download, name="generated_file_download"),
    path("blank-crf-book/", views.blank_crf_book_request, name="blank_crf_book"),
    path("casebook/<str:trial_number>/", views.casebook_pdf_request, name="casebook_pdf"),
    path("sae/<int:report_id>/", views.sae_pdf_request, name="sae_pdf"),
    path("access-review/", views.access_review, name="access_review"),
    path("recruitment/", views.recruitment_dashboard, name="recruitment"),
    path("data-quality/", views.data_quality_dashboard, name="data_quality"),
    path("data-quality/overdue-visits/", views.overdue_visits, name="overdue_visits"),
    path("dataset/", views.dataset_page, name="dataset"),
    path("record-status/", worklist_views.record_status_grid, name="record_status_grid"),
    path("sdv/", worklist_views.sdv_queue, name="sdv_queue"),
    path("sdv/records/", worklist_views.sdv_records_queue, name="sdv_records"),
    path("work/<slug:kind>/", worklist_views.role_worklist, name="role_worklist"),
    path("access-review/<str:username>/deactivate/", views.account_deactivate, name="account_deactivate"),
]
