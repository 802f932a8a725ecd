from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "safety"

    def ready(self) -> None:
        # Imported in ready(), Django's place for code that needs the app registry loaded.
        from crf.services import casebook_part_register

        from .selectors import casebook_parts

        # The PI's casebook sign-off covers the patient's AEs and SAE reports too.
        casebook_part_register(casebook_parts)

        # The SAE report form is safety's document; reports renders and stores it (core.documents).
        from core.documents import register_document

        from .documents import build_sae_report

        register_document("sae_report", build_sae_report)

        # The SAE report is source-verified in full (crf.sdv_plan.OTHER_RECORDS).
        from core.verification import verifiable_kind_register

        from .verification import SAE_REPORT

        verifiable_kind_register(SAE_REPORT)
