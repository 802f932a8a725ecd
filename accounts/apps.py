from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts, audit and signatures"

    def ready(self) -> None:
        # Django and django-axes announce logins, logouts, failures and lockouts only through
        # signals; the receivers are thin adapters that write the audit trail.
        from . import receivers  # noqa: F401
        from .append_only import install_after_migrate

        # After every migrate: append-only triggers on every audit table that exists by then.
        post_migrate.connect(install_after_migrate, sender=self, dispatch_uid="accounts.append_only")

        if settings.USE_I18N:
            from django.utils.translation import trans_real

            from core.i18n import drop_empty_fallbacks

            drop_empty_fallbacks(trans_real.translation(settings.LANGUAGE_CODE))
