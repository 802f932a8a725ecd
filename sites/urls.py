from django.urls import path

from . import views

app_name = "sites"

urlpatterns = [
    path("", views.site_list, name="site_list"),
    path("new/", views.site_create, name="site_create"),
    path("<str:code>/", views.site_detail, name="site_detail"),
    path("<str:code>/edit/", views.site_update, name="site_update"),
    path("<str:code>/status/<str:action>/", views.site_status, name="site_status"),
    path("<str:code>/history/", views.site_history, name="site_history"),
    path("<str:code>/delegation/new/", views.delegation_add, name="delegation_add"),
    path("<str:code>/delegation/<int:delegation_id>/sign/", views.delegation_sign_off, name="delegation_sign"),
    path("<str:code>/delegation/<int:delegation_id>/end/", views.delegation_end, name="delegation_end"),
    path(
        "<str:code>/delegation/<int:delegation_id>/history/",
        views.delegation_history,
        name="delegation_history",
    ),
]
