from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every domain uses and no domain owns. Model-free: it holds no tables of its own."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "core"
    verbose_name = "Core"
