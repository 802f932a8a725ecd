from django.apps import AppConfig


class CrfConfig(AppConfig):
    name = "crf"

    def ready(self) -> None:
        # The visit schedule starts when randomisation announces an allocation (a domain event with
        # an explicit sender; see randomisation.signals).
        from randomisation.models import Allocation
        from randomisation.signals import patient_randomised

        from .services import _on_randomised

        patient_randomised.connect(_on_randomised, sender=Allocation, dispatch_uid="crf_schedule_visits")
