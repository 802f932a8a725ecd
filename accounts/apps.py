from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts, audit and signatures"

    def ready(self) -> None:
        # Imported in ready(), Django's place for code that needs the app registry loaded.
        from core.append_only import install_after_migrate
        from core.signatures import SecondFactor, second_factor_register

        # Django and django-axes announce logins, logouts, failures and lockouts only through
        # signals; the receivers are thin adapters that write the audit trail.
        from . import receivers  # noqa: F401
        from .twofactor import has_two_factor, otp_match

        # Signing asks for the one-time code of whoever has two-factor set up (core.signatures).
        second_factor_register(
            SecondFactor(
                enrolled=has_two_factor,
                matches=lambda **kwargs: otp_match(**kwargs) is not None,
            )
        )

        # After every migrate: append-only triggers on every audit table that exists by then. Sent
        # by accounts, not core: Django sends post_migrate only for apps with a models module.
        post_migrate.connect(install_after_migrate, sender=self, dispatch_uid="core.append_only")

        if settings.USE_I18N:
            from django.utils.translation import trans_real

            from core.i18n import drop_empty_fallbacks

            drop_empty_fallbacks(trans_real.translation(settings.LANGUAGE_CODE))
