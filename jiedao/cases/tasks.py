"""Periodic work of the case engine: overdue and near-deadline alerts, and 超期自动督办 (GOV-3).

With Redis, Celery beat runs `cases_check_deadlines` every 5 minutes (settings.CELERY_BEAT_SCHEDULE).
In the embedded default (no broker) the dispatcher console and the department inbox call
`check_deadlines_throttled()` when they load, at most once a minute per process.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from jiedao.kernel import context
from jiedao.kernel.alerts import alert_dedup_key, alert_raise_once, alerts_resolve_for_subject
from jiedao.kernel.calendar import WorkCalendar
from jiedao.kernel.exceptions import ConflictError
from jiedao.kernel.models import Alert
from jiedao.kernel.models.alerts import AlertState

from .choices import OPEN_STATES
from .models import Case

NEAR = dt.timedelta(hours=4)
BATCH = 2000
RULES = ("case.overdue", "case.near_deadline")
# 超期自动督办: the supervision level an overdue case is raised to, by working days past its deadline — level 1 at
# the deadline, 2 after two working days, 3 after five (JIEDAO_ESCALATION_WORKING_DAYS, for the installation).
ESCALATION_WORKING_DAYS = tuple(settings.CASE_ESCALATION_WORKING_DAYS)[:3]  # three levels of 督办
# Escalations and alert resolutions per run: each is a transition or an audited write, and in the embedded default
# the check runs inside a console request; a backlog is worked off over the following runs.
ESCALATE_PER_RUN = 50
RESOLVE_PER_RUN = 200


def check_deadlines(*, now=None, escalate_limit: int = ESCALATE_PER_RUN, resolve_limit: int = RESOLVE_PER_RUN) -> dict:
    """Raise one alert per overdue case and per case due within 4 hours (idempotent per case and rule), resolve
    those whose case no longer needs them, and raise overdue cases' supervision level (超期自动督办)."""
    now = now or timezone.now()
    # The system's work, whoever's page load runs it: its audit records carry no user's address or request.
    token = context.set_current(context.RequestContext(request_id="system:cases.check_deadlines"))
    try:
        return _check_deadlines(now, escalate_limit, resolve_limit)
    finally:
        context.reset(token)


def _check_deadlines(now, escalate_limit: int, resolve_limit: int) -> dict:
    _resolve_stale(now, resolve_limit)  # first: a "due soon" alert of a case now overdue goes before "overdue" comes
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
    raised["escalated"] = escalate_overdue(now=now, limit=escalate_limit)
    return raised


def _resolve_stale(now, limit: int) -> int:
    """Resolve the deadline alerts of cases that no longer qualify: closed, rejected or merged (their transition
    resolves them too), postponed past the window, or overdue where the alert said "due soon"; at most ``limit``."""
    resolved = 0
    last = 0
    while resolved < limit:
        alerts = list(Alert.objects.filter(rule__in=RULES, subject_type="cases.case", pk__gt=last)
                      .exclude(state=AlertState.RESOLVED).order_by("pk").values("pk", "rule", "subject_id")[:BATCH])
        if not alerts:
            return resolved
        last = alerts[-1]["pk"]
        ids = {int(a["subject_id"]) for a in alerts if a["subject_id"].isdigit()}
        cases = {c["pk"]: c for c in Case.objects.filter(pk__in=ids).values("pk", "state", "deadline_at")}
        for a in alerts:
            case = cases.get(int(a["subject_id"])) if a["subject_id"].isdigit() else None
            if case is None or not _still(a["rule"], case, now):
                resolved += alerts_resolve_for_subject(subject_type="cases.case", subject_id=a["subject_id"],
                                                       rules=(a["rule"],))
                if resolved >= limit:
                    break
    return resolved


def _still(rule: str, case: dict, now) -> bool:
    deadline = case["deadline_at"]
    if case["state"] not in OPEN_STATES or deadline is None:
        return False
    if rule == "case.overdue":
        return deadline < now
    return now <= deadline < now + NEAR


def escalation_level(*, deadline, now, calendar: WorkCalendar) -> tuple[int, int]:
    """The supervision level an overdue case should have by now, and the working days it is past its deadline."""
    level = days = 0
    for i, n in enumerate(ESCALATION_WORKING_DAYS, start=1):
        if (deadline if n == 0 else calendar.add_working_days(deadline, n)) <= now:
            level, days = i, n
    return min(level, 3), days


def escalate_overdue(*, now, limit: int = ESCALATE_PER_RUN) -> int:
    """Raise the supervision level of overdue open cases to what their lateness calls for, at most ``limit``
    of them (the most overdue first). Levels set by hand are never lowered."""
    from .services.transitions import case_escalate_overdue

    shortest = dt.timedelta(days=min(ESCALATION_WORKING_DAYS))
    candidates = Case.objects.filter(state__in=OPEN_STATES, supervision_level__lt=len(ESCALATION_WORKING_DAYS),
                                     deadline_at__lt=now - shortest).order_by("deadline_at")
    escalated = 0
    calendars: dict[int, WorkCalendar] = {}
    # Only a case past the next threshold in calendar days can be past it in working days: the query leaves the rest.
    for level, n in enumerate(ESCALATION_WORKING_DAYS, start=1):
        for case in candidates.filter(supervision_level=level - 1, deadline_at__lt=now - dt.timedelta(days=n))[:limit]:
            cal = calendars.setdefault(case.subdistrict_id, WorkCalendar(case.subdistrict_id))
            target, days = escalation_level(deadline=case.deadline_at, now=now, calendar=cal)
            if target <= case.supervision_level:
                continue
            try:
                case_escalate_overdue(case=case, level=target, working_days_overdue=days)
            except ConflictError:  # changed meanwhile (e.g. closed or supervised by hand): the next run sees it
                continue
            escalated += 1
            if escalated >= limit:
                return escalated
    return escalated


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
