from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts, audit and signatures"

    def ready(self) -> None:
        # Django and django-axes announce logins, logouts, failures and lockouts only through
        # signals; the receivers are thin adapters that write the audit trail.
        from . import receivers  # noqa: F401
