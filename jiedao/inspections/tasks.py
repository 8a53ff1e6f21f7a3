"""Periodic work of the inspection engine: missed-inspection alerts.

With Redis, Celery beat runs it hourly (settings.CELERY_BEAT_SCHEDULE); in the embedded default the
inspections home page runs it when it loads, at most once an hour per process.
"""

from celery import shared_task
from django.core.cache import cache

from .services.inspect import check_missed


@shared_task(name="inspections.check_missed")
def inspections_check_missed() -> int:
    return check_missed()


def check_missed_throttled() -> None:
    if cache.add("inspections:missed-check", 1, timeout=3600):
        check_missed()
