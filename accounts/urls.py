from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(template_name="accounts/password_change.html", success_url="/"),
        name="password_change",
    ),
    path("2fa/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("2fa/devices/<int:device_id>/remove/", views.two_factor_device_remove, name="two_factor_device_remove"),
    path("api-tokens/", views.api_tokens, name="api_tokens"),
    path("2fa/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("users/", views.user_list, name="user_list"),
    path("users/new/", views.user_create_view, name="user_create"),
    path("users/<str:username>/", views.user_update_view, name="user_update"),
    path("users/<str:username>/history/", views.user_history, name="user_history"),
    path("users/<str:username>/2fa-reset/", views.two_factor_reset_view, name="two_factor_reset"),
    path("audit/", views.audit_log, name="audit_log"),
]
