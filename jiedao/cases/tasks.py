"""Periodic work of the case engine: overdue and near-deadline alerts (GOV-3).

With Redis, Celery beat runs `cases_check_deadlines` every 5 minutes (settings.CELERY_BEAT_SCHEDULE).
In the embedded default (no broker) the dispatcher console and the department inbox call
`check_deadlines_throttled()` when they load, at most once a minute per process.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from jiedao.kernel.alerts import alert_dedup_key, alert_raise_once
from jiedao.kernel.models import Alert
from jiedao.kernel.models.alerts import AlertState

from .choices import OPEN_STATES
from .models import Case

NEAR = dt.timedelta(hours=4)
BATCH = 2000


def check_deadlines(*, now=None) -> dict:
    """Raise one alert per overdue case and per case due within 4 hours (idempotent per case and rule)."""
    now = now or timezone.now()
    raised = {"overdue": 0, "near_deadline": 0}
    open_cases = Case.objects.filter(state__in=OPEN_STATES, deadline_at__isnull=False)
    for rule, qs in (("case.overdue", open_cases.filter(deadline_at__lt=now)),
                     ("case.near_deadline", open_cases.filter(deadline_at__gte=now, deadline_at__lt=now + NEAR))):
        for batch in _batches(qs.only("pk", "number", "title", "subdistrict_id", "deadline_at")):
            # One query per batch for the alerts already open: on a steady day nearly every overdue case has
            # one, and asking per case made a check of a large sub-district take minutes.
            keys = {_dedup_key(rule, c) for c in batch}
            have = set(Alert.objects.filter(dedup_key__in=keys).exclude(state=AlertState.RESOLVED)
                       .values_list("dedup_key", flat=True))
            for case in batch:
                if _dedup_key(rule, case) in have:
                    continue
                raised[rule.split(".")[1]] += _raise(rule, case)
    return raised


def _dedup_key(rule: str, case) -> str:
    return alert_dedup_key(rule=rule, subject_type="cases.case", subject_id=str(case.pk),
                           subdistrict_id=case.subdistrict_id)


def _batches(qs):
    batch = []
    for case in qs.iterator(chunk_size=BATCH):
        batch.append(case)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _raise(rule: str, case) -> bool:
    _alert, created = alert_raise_once(
        rule=rule, subject_type="cases.case", subject_id=str(case.pk), subject_repr=f"{case.number} {case.title}",
        subdistrict_id=case.subdistrict_id,
        message=(f"案件 {case.number} 已超过处置时限（{timezone.localtime(case.deadline_at):%m-%d %H:%M}）"
                 if rule == "case.overdue" else
                 f"案件 {case.number} 将于 {timezone.localtime(case.deadline_at):%m-%d %H:%M} 到期"),
    )
    return created


@shared_task(name="cases.check_deadlines")
def cases_check_deadlines() -> dict:
    return check_deadlines()


def check_deadlines_throttled() -> None:
    if cache.add("cases:deadline-check", 1, timeout=60):
        check_deadlines()
