from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data, the synthetic trial (``simulate_trial``) and its bulk loader.

    Installed in every mode (the commands are what ``make demo`` and the benchmarks run); it sits at
    the top of the layers beside ``reports``: it writes through the domains' services, and no
    domain app imports it.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "demo"
