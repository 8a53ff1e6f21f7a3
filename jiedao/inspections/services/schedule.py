"""Plan schedules: which occurrences (periods) a plan has, and what is due for an inspector.

An occurrence is a period — a day, an ISO week or a month, or a given date — with the last day it may be
done on. A target's occurrence is done when an inspection of it under the plan carries the period's key.
Working-days-only plans skip holidays and weekends, and honour make-up workdays (kernel.calendar).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from jiedao.kernel.calendar import WorkCalendar

from ..choices import Frequency


@dataclass(frozen=True)
class Occurrence:
    key: str  # "2020-10-09", "2020-W41", "2020-10"
    first: dt.date
    last: dt.date  # the last day it may be done on


def occurrences(plan, start: dt.date, end: dt.date, calendar: WorkCalendar | None = None) -> list[Occurrence]:
    """All occurrences of ``plan`` that overlap [start, end]."""
    lo = max(start, plan.start_date)
    hi = min(end, plan.end_date) if plan.end_date else end
    if lo > hi:
        return []
    cal = calendar or WorkCalendar(plan.subdistrict_id)
    out: list[Occurrence] = []
    if plan.frequency == Frequency.DAILY:
        day = lo
        while day <= hi:
            if not plan.workdays_only or cal.is_workday(day):
                out.append(Occurrence(day.isoformat(), day, day))
            day += dt.timedelta(days=1)
    elif plan.frequency == Frequency.WEEKLY:
        monday = lo - dt.timedelta(days=lo.weekday())
        while monday <= hi:
            first, last = max(monday, plan.start_date), monday + dt.timedelta(days=6)
            if plan.end_date:
                last = min(last, plan.end_date)
            if plan.workdays_only:
                last = _last_workday(cal, first, last)
            if last is not None:
                year, week, _ = monday.isocalendar()
                out.append(Occurrence(f"{year}-W{week:02d}", first, last))
            monday += dt.timedelta(days=7)
    elif plan.frequency == Frequency.MONTHLY:
        month = dt.date(lo.year, lo.month, 1)
        while month <= hi:
            nxt = dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)
            first, last = max(month, plan.start_date), nxt - dt.timedelta(days=1)
            if plan.end_date:
                last = min(last, plan.end_date)
            if plan.workdays_only:
                last = _last_workday(cal, first, last)
            if last is not None:
                out.append(Occurrence(f"{month:%Y-%m}", first, last))
            month = nxt
    else:  # given dates
        for text in plan.dates or []:
            day = dt.date.fromisoformat(text)
            if lo <= day <= hi and (not plan.workdays_only or cal.is_workday(day)):
                out.append(Occurrence(day.isoformat(), day, day))
    return out


def _last_workday(cal: WorkCalendar, first: dt.date, last: dt.date) -> dt.date | None:
    day = last
    while day >= first:
        if cal.is_workday(day):
            return day
        day -= dt.timedelta(days=1)
    return None


def occurrence_on(plan, day: dt.date, calendar: WorkCalendar | None = None) -> Occurrence | None:
    """The occurrence that is open on ``day`` (None when the plan has none that day)."""
    for occ in occurrences(plan, day, day, calendar):
        if occ.first <= day <= occ.last:
            return occ
    return None
