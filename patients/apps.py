from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"

    def ready(self) -> None:
        # Imported in ready(), Django's place for code that needs the app registry loaded.
        from core.verification import verifiable_kind_register

        from .verification import CONSENT, ELIGIBILITY

        # Consent and eligibility are source-verified in full (crf.sdv_plan.OTHER_RECORDS).
        verifiable_kind_register(CONSENT)
        verifiable_kind_register(ELIGIBILITY)
