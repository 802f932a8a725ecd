from django.apps import AppConfig


class CrfConfig(AppConfig):
    name = "crf"

    def ready(self) -> None:
        # Imports inside ready(): models and signals of the apps can be imported only once the app
        # registry is loaded (Django's rule), not at the import of this module.
        # The visit schedule starts when randomisation announces an allocation (a domain event with
        # an explicit sender; see randomisation.signals).
        from crf.services.schedule import _on_randomised
        from randomisation.models import Allocation
        from randomisation.signals import patient_randomised

        patient_randomised.connect(_on_randomised, sender=Allocation, dispatch_uid="crf_schedule_visits")

        # Corrected registration dates re-anchor the schedule and the CRFs that show them.
        from crf.services.schedule import _on_registration_corrected
        from patients.models import Patient as RegisteredPatient
        from patients.signals import registration_corrected

        registration_corrected.connect(
            _on_registration_corrected, sender=RegisteredPatient, dispatch_uid="crf_registration_corrected"
        )

        # The nurse's home panels (per site) and the record status grid's rows (per patient) are
        # cached until a record they are built from changes: every save of one announces it
        # (crf.receivers).
        from django.db.models.signals import post_save

        from patients.models import Consent, Patient, ReconsentTask

        from . import receivers
        from .models import FormNotDone, Query, Visit
        from .registry import FORMS

        for model in (Visit, Query, ReconsentTask, Consent, *FORMS.values()):
            post_save.connect(
                receivers.patient_record_saved, sender=model, dispatch_uid=f"site_figures_{model.__name__}"
            )
        post_save.connect(receivers.visit_record_saved, sender=FormNotDone, dispatch_uid="site_figures_not_done")
        post_save.connect(receivers.patient_saved, sender=Patient, dispatch_uid="site_figures_patient")

        # The blank CRF book is crf's document; reports renders and stores it (core.documents).
        from core.documents import register_document

        from .documents import build_blank_crf_book

        register_document("blank_crf_book", build_blank_crf_book)

        # A casebook signature covers the content of the patient's records (core cannot import crf).
        from core.signatures import signed_composite_register
        from crf.services.casebook import CASEBOOK_SIGNED

        signed_composite_register("crf.casebook", CASEBOOK_SIGNED)

        # Migration 0012's backfill, when later migrations of the same migrate had to come first.
        from django.db.models.signals import post_migrate

        from .backfill import backfill_after_migrate

        post_migrate.connect(backfill_after_migrate, sender=self, dispatch_uid="crf_backfill_after_migrate")
