from django.apps import AppConfig
from django.conf import settings


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts, audit and signatures"

    def ready(self) -> None:
        # Django and django-axes announce logins, logouts, failures and lockouts only through
        # signals; the receivers are thin adapters that write the audit trail.
        from . import receivers  # noqa: F401

        if settings.USE_I18N:
            from django.utils.translation import trans_real

            from nelmas.i18n import drop_empty_fallbacks

            drop_empty_fallbacks(trans_real.translation(settings.LANGUAGE_CODE))
