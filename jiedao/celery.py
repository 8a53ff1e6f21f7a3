"""Celery app. Without REDIS_URL tasks run eagerly in-process (settings.CELERY_TASK_ALWAYS_EAGER)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jiedao.settings.base")
app = Celery("jiedao")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
