"""Celery adapters for generated files (conventions §9)."""

from celery import shared_task

from accounts.models import User

from .dashboards import dashboard_compute
from .services import generated_file_render


@shared_task(bind=True, max_retries=2, default_retry_delay=30, soft_time_limit=900, time_limit=960, acks_late=True)
def render_generated_file(self, file_id: int) -> str:
    return generated_file_render(file_id=file_id).status


@shared_task(ignore_result=True, soft_time_limit=120, time_limit=150)
def refresh_dashboard(name: str, user_id: int) -> None:
    """Recompute a dashboard for the scope of ``user_id`` (who looked at figures a minute old)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is not None:
        dashboard_compute(name, user=user)
