"""Working time (DESIGN §4.6): the only place deadlines are computed.

Sources, in order: days that admins entered (``CalendarDay``), then the
chinese-calendar package (statutory holidays and make-up workdays), then —
for a year neither knows — weekends only, with an alert to the system
administrator so the year's schedule gets entered. Nothing raises.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar
from django.conf import settings

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _parse_hhmm(value: str) -> dt.time:
    h, m = value.split(":")
    return dt.time(int(h), int(m))


def office_hours() -> list[tuple[dt.time, dt.time]]:
    return [(_parse_hhmm(a), _parse_hhmm(b)) for a, b in settings.OFFICE_HOURS]


class WorkCalendar:
    """A calendar for one sub-district; cheap to build, caches its override rows per year."""

    def __init__(self, subdistrict_id: int | None = None, *, token: str = ""):
        """``token``: the sub-district's ``calendar_token`` when the caller has it; the override rows are then
        shared by every calendar of this process until a holiday row changes (which replaces the token)."""
        self.subdistrict_id = subdistrict_id
        self.token = token
        self._overrides: dict[int, dict[dt.date, bool]] = {}
        self.unknown_years: set[int] = set()

    def _overrides_for(self, year: int) -> dict[dt.date, bool]:
        if year not in self._overrides:
            if not self.token:
                self._overrides[year] = self._load_overrides(year)
            else:
                key = (self.subdistrict_id, self.token, year)
                days = _shared_overrides.get(key)
                if days is None:
                    days = self._load_overrides(year)
                    if len(_shared_overrides) > 512:
                        _shared_overrides.clear()
                    _shared_overrides[key] = days
                self._overrides[year] = days
        return self._overrides[year]

    def _load_overrides(self, year: int) -> dict[dt.date, bool]:
        from django.db.models import Q

        from .models import CalendarDay

        q = Q(subdistrict__isnull=True)
        if self.subdistrict_id:
            q |= Q(subdistrict_id=self.subdistrict_id)
        rows = CalendarDay.objects.filter(q, date__year=year).order_by("subdistrict_id").values_list(
            "date", "kind", "subdistrict_id"
        )
        days: dict[dt.date, bool] = {}
        # Global rows first, sub-district rows override them.
        for date, kind, _sub in sorted(rows, key=lambda r: r[2] is not None):
            days[date] = kind == "workday"
        return days

    def year_has_override_data(self, year: int) -> bool:
        return bool(self._overrides_for(year))

    def is_workday(self, day: dt.date) -> bool:
        overrides = self._overrides_for(day.year)
        if day in overrides:
            return overrides[day]
        if _library_knows(day.year):
            return chinese_calendar.is_workday(day)
        if not overrides:
            self.unknown_years.add(day.year)
        return day.weekday() < 5

    def next_workday(self, day: dt.date) -> dt.date:
        while not self.is_workday(day):
            day += dt.timedelta(days=1)
        return day

    # --- adding time ------------------------------------------------------------
    def add_working_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        """``start`` + ``hours`` of office time, counting only office hours of working days."""
        remaining = dt.timedelta(hours=hours)
        local = start.astimezone(SHANGHAI)
        day = local.date()
        cursor = local.time()
        for _ in range(3660):  # at most ten years of days; a guard, not a limit anyone meets
            if self.is_workday(day):
                for begin, end in office_hours():
                    seg_start = max(begin, cursor)
                    if seg_start >= end:
                        continue
                    available = _delta(seg_start, end)
                    if remaining <= available:
                        moment = dt.datetime.combine(day, seg_start, tzinfo=SHANGHAI) + remaining
                        self._report_unknown()
                        return moment.astimezone(dt.UTC)
                    remaining -= available
            day += dt.timedelta(days=1)
            cursor = dt.time(0, 0)
        raise RuntimeError("working-hours computation ran away")

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """The end of office hours on the ``days``-th working day after ``start``'s day.

        This is how 处置时限 "N 个工作日" is read in practice: a case registered
        on Monday with 3 working days is due at close of office on Thursday.
        """
        local = start.astimezone(SHANGHAI)
        day = local.date()
        key = (self.subdistrict_id, self.token, day, days)
        if self.token and key in _shared_deadlines:  # every intake of the day asks the same question
            return _shared_deadlines[key]
        counted = 0
        while counted < days:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        if days == 0:
            day = self.next_workday(day)
        close = office_hours()[-1][1]
        self._report_unknown()
        deadline = dt.datetime.combine(day, close, tzinfo=SHANGHAI).astimezone(dt.UTC)
        if self.token:
            if len(_shared_deadlines) > 4096:
                _shared_deadlines.clear()
            _shared_deadlines[key] = deadline
        return deadline

    def working_hours_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Office hours elapsed between two moments (for on-time rates and handling times)."""
        if end <= start:
            return 0.0
        total = dt.timedelta()
        a, b = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
        day = a.date()
        while day <= b.date():
            if self.is_workday(day):
                for begin, finish in office_hours():
                    s = dt.datetime.combine(day, begin, tzinfo=SHANGHAI)
                    e = dt.datetime.combine(day, finish, tzinfo=SHANGHAI)
                    lo, hi = max(s, a), min(e, b)
                    if hi > lo:
                        total += hi - lo
            day += dt.timedelta(days=1)
        return total.total_seconds() / 3600

    def _report_unknown(self) -> None:
        if self.unknown_years:
            years = sorted(self.unknown_years)
            self.unknown_years.clear()
            calendar_year_unknown(years=years, subdistrict_id=self.subdistrict_id)


# (sub-district, calendar token, year) → override days; never changed once stored.
_shared_overrides: dict[tuple, dict[dt.date, bool]] = {}
# (sub-district, calendar token, start day, working days) → deadline; a holiday row changes the token.
_shared_deadlines: dict[tuple, dt.datetime] = {}


def _delta(a: dt.time, b: dt.time) -> dt.timedelta:
    return dt.datetime.combine(dt.date.min, b) - dt.datetime.combine(dt.date.min, a)


@lru_cache(maxsize=64)
def _library_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def calendar_year_unknown(*, years: list[int], subdistrict_id: int | None) -> None:
    """Raise (once) the alert that a year's holiday schedule is missing."""
    from .alerts import alert_raise

    for year in years:
        log.warning("no holiday data for %s: falling back to weekends only", year)
        alert_raise(
            rule="calendar.year_unknown",
            subject_type="calendar.year",
            subject_id=str(year),
            subject_repr=str(year),
            subdistrict_id=None,
            severity="warning",
            message=f"{year} 年的法定节假日与调休安排尚未录入，期限暂按周末计算。请系统管理员在“节假日与调休”中录入。",
            audience="config.manage",
        )


def add_working_hours(start: dt.datetime, hours: float, *, subdistrict_id: int | None = None) -> dt.datetime:
    return WorkCalendar(subdistrict_id).add_working_hours(start, hours)


def add_working_days(start: dt.datetime, days: int, *, subdistrict_id: int | None = None) -> dt.datetime:
    return WorkCalendar(subdistrict_id).add_working_days(start, days)


def is_workday(day: dt.date, *, subdistrict_id: int | None = None) -> bool:
    return WorkCalendar(subdistrict_id).is_workday(day)
