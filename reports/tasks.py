"""Celery adapters for generated files (conventions §9)."""

from celery import shared_task

from .services import generated_file_render


@shared_task(bind=True, max_retries=2, default_retry_delay=30, soft_time_limit=900, time_limit=960, acks_late=True)
def render_generated_file(self, file_id: int) -> str:
    return generated_file_render(file_id=file_id).status
