from django.urls import path

from . import views

app_name = "randomisation"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("design/", views.config_edit, name="config"),
    path("list/generate/", views.list_generate, name="list_generate"),
    path("list/import/", views.list_import, name="list_import"),
    path("list/download/", views.list_download, name="list_download"),
    path("patients/<str:trial_number>/", views.randomise, name="randomise"),
    path("patients/<str:trial_number>/result/", views.result, name="result"),
]
