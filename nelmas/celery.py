"""Celery application. With no REDIS_URL the settings make tasks run in-process (eager)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nelmas.settings")

app = Celery("nelmas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# nelmas is not an installed app (it is the project package): its tasks are found by name.
app.autodiscover_tasks(["nelmas"])
