"""绩效考评 (GOV-4) computed from the rows: per department, grid and worker, per month. Formulas are in
docs/cases.md. This is the reference: ``figures.py`` keeps the same counters incrementally, rebuilds them with
``tally()`` and checks them against it; ``evaluation()`` (``__init__``) uses this path for narrow scopes.

Every figure is aggregated in the database: one grouped query per dimension (two for grid and worker: the
cases, then their verify events), so the database returns one row per department, grid or worker, never one
per case. Each query reads one month through an index (assignments by ``dispatched_at``, cases by
``reported_at``, verify events by case), so the cost grows with one month's volume, not with history.

Working hours (mean handling time, verification within 8 working hours) follow ``kernel.calendar``:
on PostgreSQL they are computed in SQL by ``OfficeSeconds`` (office seconds from a fixed epoch to a moment,
so the office time between two moments is a difference); elsewhere (SQLite) in Python with one
``WorkCalendar`` per sub-district. Measured in bench/evaluation.py.
"""

from __future__ import annotations

import bisect
import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import BigIntegerField, Count, F, FloatField, Func, Q, Sum, Value
from django.db.models.functions import Cast, Greatest, Round
from django.db.models.lookups import LessThanOrEqual

from jiedao.kernel.calendar import WorkCalendar, office_hours
from jiedao.kernel.models import OrgUnit
from jiedao.kernel.scoping import user_scope

from ..choices import AssignmentRole, AssignmentState, CaseState
from ..models import Case, CaseAssignment, CaseEvent

SH = ZoneInfo("Asia/Shanghai")
DIMENSIONS = ("department", "grid", "worker")
US_PER_HOUR = 3_600_000_000
# The counters of a Row (and of an EvaluationFigure row): everything the rates are computed from.
COUNTERS = ("reported", "registered", "dispatched", "closed", "closed_on_time", "reworked", "returned", "postponed",
            "verified", "verified_on_time", "handling_us", "handling_count", "satisfaction_total",
            "satisfaction_count", "co_handled")


@dataclass
class Row:
    key: int | None
    label: str
    reported: int = 0
    registered: int = 0
    dispatched: int = 0
    closed: int = 0
    closed_on_time: int = 0
    reworked: int = 0
    returned: int = 0
    postponed: int = 0
    verified: int = 0
    verified_on_time: int = 0
    handling_us: int = 0  # working time from the department's accept to its feedback, microseconds, summed
    handling_count: int = 0
    satisfaction_total: int = 0  # follow-up ratings of the reporters (1–5), summed
    satisfaction_count: int = 0
    co_handled: int = 0  # by department: of the assignments dispatched, those as a co-handler (协办)

    @staticmethod
    def _rate(a, b):
        return round(100.0 * a / b, 1) if b else None

    @property
    def on_time_close_rate(self):
        return self._rate(self.closed_on_time, self.closed)

    @property
    def rework_rate(self):
        return self._rate(self.reworked, self.dispatched)

    @property
    def return_rate(self):
        return self._rate(self.returned, self.dispatched)

    @property
    def postponement_rate(self):
        return self._rate(self.postponed, self.dispatched)

    @property
    def verification_on_time_rate(self):
        return self._rate(self.verified_on_time, self.verified)

    @property
    def mean_satisfaction(self):
        return round(self.satisfaction_total / self.satisfaction_count, 2) if self.satisfaction_count else None

    @property
    def mean_handling_hours(self):
        return round(self.handling_us / US_PER_HOUR / self.handling_count, 1) if self.handling_count else None

    def as_dict(self) -> dict:
        return {
            "key": self.key, "label": self.label, "reported": self.reported, "registered": self.registered,
            "dispatched": self.dispatched, "co_handled": self.co_handled, "closed": self.closed,
            "on_time_close_rate": self.on_time_close_rate,
            "rework_rate": self.rework_rate, "return_rate": self.return_rate,
            "postponement_rate": self.postponement_rate, "mean_handling_hours": self.mean_handling_hours,
            "verification_on_time_rate": self.verification_on_time_rate, "mean_satisfaction": self.mean_satisfaction,
        }


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    year, mon = (int(x) for x in month.split("-"))
    start = dt.datetime(year, mon, 1, tzinfo=SH)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=SH)
    return start, end


VERIFY_HOURS = 8  # a grid worker verifies within one working day of the department's feedback


# --- working time in SQL -------------------------------------------------------------------------------
EPOCH = dt.date(1900, 1, 1)  # a Monday: day numbers from it are non-negative, and n % 7 is the weekday


@lru_cache(maxsize=1)
def _library_days() -> tuple[dt.date, ...]:
    """Every day the chinese-calendar package treats differently from "Monday to Friday" may be one of these."""
    from chinese_calendar import constants

    return tuple(sorted(set(constants.holidays) | set(constants.workdays)))


def _is_workday(day: dt.date, overrides: dict[dt.date, bool]) -> bool:
    """``WorkCalendar.is_workday`` with the override rows given (sub-district rows over global ones)."""
    from jiedao.kernel.calendar import _library_knows

    if day in overrides:
        return overrides[day]
    if _library_knows(day.year):
        import chinese_calendar

        return chinese_calendar.is_workday(day)
    return day.weekday() < 5


@dataclass(frozen=True)
class _Calendar:
    """The days where a sub-district's calendar differs from "Monday to Friday", as SQL array parameters."""

    days: tuple[int, ...]  # day numbers from EPOCH, ascending
    before: tuple[int, ...]  # before[i]: working days gained (+) or lost (−) by the exceptions before days[i]


@lru_cache(maxsize=32)
def _calendar(overrides: frozenset[tuple[dt.date, bool]]) -> _Calendar:
    """Built once per process for each set of override rows (the library's data never changes)."""
    table = dict(overrides)
    days, before, gained = [], [], 0
    for day in sorted(set(_library_days()) | set(table)):
        working = _is_workday(day, table)
        if working != (day.weekday() < 5):
            days.append((day - EPOCH).days)
            before.append(gained)
            gained += 1 if working else -1
    before.append(gained)
    return _Calendar(tuple(days), tuple(before))


def _calendars() -> tuple[_Calendar, dict[int, _Calendar]]:
    """The calendar of sub-districts without rows of their own, and one per sub-district that has them."""
    from jiedao.kernel.models import CalendarDay

    rows = list(CalendarDay.objects.values_list("subdistrict_id", "date", "kind"))
    global_rows = {d: k == "workday" for s, d, k in rows if s is None}
    own = {s for s, _d, _k in rows if s is not None}
    default = _calendar(frozenset(global_rows.items()))
    return default, {s: _calendar(frozenset({**global_rows, **{d: k == "workday" for s2, d, k in rows if s2 == s}}
                                            .items())) for s in own}


def _segments() -> list[tuple[int, int]]:
    """Office hours as (start, end) seconds after local midnight."""
    return [(b.hour * 3600 + b.minute * 60, e.hour * 3600 + e.minute * 60) for b, e in office_hours()]


def _working_days_before(cal: _Calendar, dn: int) -> int:
    """Working days from EPOCH up to (not including) day number ``dn`` (the SQL formula, in Python)."""
    return (dn // 7) * 5 + min(dn % 7, 5) + cal.before[bisect.bisect_left(cal.days, dn)]


def _is_working(cal: _Calendar, dn: int) -> bool:
    i = bisect.bisect_left(cal.days, dn)
    return (dn % 7 < 5) != (i < len(cal.days) and cal.days[i] == dn)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (built once per window, cached)
class _Window:
    """Days around the evaluated month, tabulated for the fast path of ``OfficeSeconds``."""

    first: dt.date  # local date of the first tabulated day
    offset_s: int  # the time zone's UTC offset, the same on every tabulated day
    office_before: dict  # calendar → tuple of office seconds from EPOCH to each day's midnight
    working: dict  # calendar → tuple of bools


@lru_cache(maxsize=64)
def _window(first: dt.date, last: dt.date, calendars: tuple[_Calendar, ...]) -> _Window | None:
    offsets = {dt.datetime.combine(first + dt.timedelta(days=i), dt.time(h), tzinfo=SH).utcoffset()
               for i in range((last - first).days + 1) for h in (0, 12)}
    if len(offsets) != 1:
        return None  # a change of offset inside the window: use the exact formula only
    per_day = sum(e - b for b, e in _segments())
    start = (first - EPOCH).days
    n = (last - first).days + 1
    before, working = {}, {}
    for cal in set(calendars):
        before[cal] = tuple(_working_days_before(cal, start + i) * per_day for i in range(n))
        working[cal] = tuple(_is_working(cal, start + i) for i in range(n))
    return _Window(first, int(offsets.pop().total_seconds()), before, working)


class OfficeSeconds(Func):
    """PostgreSQL: office seconds from EPOCH to a moment, by the sub-district's working calendar.

    W(t) = (working days before t's local day) × office seconds per day + office seconds of t's day up to t,
    the latter only on a working day; ``W(b) - W(a)`` is ``WorkCalendar.working_hours_between(a, b)`` in
    seconds. For the days of a window (around the evaluated month) both terms are looked up in arrays indexed
    by day, from the UTC epoch and the zone's fixed offset: a few arithmetic operations per row. Outside the
    window (NULL from the arrays) the exact formula: working days before day n = weekdays before it + the
    exceptions before it (holidays −1, make-up working days +1), found by ``width_bucket`` in the sorted array
    of exception days.
    """

    output_field = FloatField()

    def __init__(self, moment, subdistrict, *, calendars, window: _Window | None):
        super().__init__(moment, subdistrict)
        self.calendars, self.window = calendars, window

    @staticmethod
    def _within(tod: str) -> str:
        return " + ".join(f"GREATEST(0, LEAST({tod}, {e}) - {b})" for b, e in _segments())

    def _exact(self, moment: str, cal: _Calendar) -> tuple[str, list]:
        per_day = sum(e - b for b, e in _segments())
        local = f"({moment} AT TIME ZONE 'Asia/Shanghai')"
        dn = f"({local}::date - DATE '{EPOCH.isoformat()}')"
        tod = f"date_part('epoch', {local}::time)"
        before = f"width_bucket({dn} - 1, %s::int[])"
        exception = f"(width_bucket({dn}, %s::int[]) > {before})"
        sql = (f"((({dn} / 7) * 5 + LEAST({dn} %% 7, 5) + (%s::int[])[{before} + 1]) * {per_day}"
               f" + CASE WHEN (({dn} %% 7) < 5) <> {exception} THEN {self._within(tod)} ELSE 0 END)")
        days = list(cal.days)
        return sql, [list(cal.before), days, days, days]  # in the order of the placeholders

    def _one(self, moment: str, cal: _Calendar) -> tuple[str, list]:
        exact, exact_params = self._exact(moment, cal)
        w = self.window
        if w is None:
            return exact, exact_params
        # Seconds since local midnight of the window's first day; k: 1-based day in the window.
        x = f"(date_part('epoch', {moment}) + {w.offset_s - (w.first - dt.date(1970, 1, 1)).days * 86400})"
        k = f"(floor({x} / 86400)::int + 1)"
        tod = f"({x} - ({k} - 1) * 86400)"
        fast = f"((%s::float8[])[{k}] + CASE WHEN (%s::bool[])[{k}] THEN {self._within(tod)} ELSE 0 END)"
        return f"COALESCE({fast}, {exact})", [list(w.office_before[cal]), list(w.working[cal]), *exact_params]

    def as_sql(self, compiler, connection, **extra):
        moment, m_params = compiler.compile(self.source_expressions[0])
        sub, s_params = compiler.compile(self.source_expressions[1])
        if m_params or s_params:
            raise ValueError("OfficeSeconds takes plain columns")
        default, others = self.calendars
        sql, params = self._one(moment, default)
        if not others:
            return sql, params
        case, case_params = "CASE", []
        for sub_id, cal in sorted(others.items()):
            one, one_params = self._one(moment, cal)
            case += f" WHEN {sub} = %s THEN {one}"
            case_params += [sub_id, *one_params]
        return f"{case} ELSE {sql} END", case_params + params


def _office_seconds_between(start, end, sub_field: str, calendars, window) -> Greatest:
    """Office seconds from ``start`` to ``end`` (0 when ``end`` is not after ``start``)."""
    return Greatest(OfficeSeconds(end, sub_field, calendars=calendars, window=window)
                    - OfficeSeconds(start, sub_field, calendars=calendars, window=window), Value(0.0))


# --- who sees what -----------------------------------------------------------------------------------
def _through_case(user, prefix: str):
    """Rows whose case (reached through ``prefix``) the user can see: a Q on the joined case when the scope
    reads only the case's own columns (the usual wide roles), else membership of the visible cases."""
    scope = user_scope(user)
    if scope.everything:
        return Q()
    if scope.user_id is None:
        return None
    q = Case.scope_q(scope)
    if q is None:
        return None
    rerooted = _reroot(q, prefix)
    return rerooted if rerooted is not None else Q(**{f"{prefix}__in": Case.objects.visible_to(user).values("pk")})


def _reroot(q: Q, prefix: str) -> Q | None:
    """``q`` with every lookup prefixed, or None if a lookup leaves the case table (a join could duplicate)."""
    fields = {f.name: f for f in Case._meta.concrete_fields} | {f.attname: f for f in Case._meta.concrete_fields}
    children = []
    for child in q.children:
        if isinstance(child, Q):
            sub = _reroot(child, prefix)
            if sub is None:
                return None
            children.append(sub)
            continue
        if not isinstance(child, tuple):
            return None
        lookup, value = child
        name, _, rest = lookup.partition("__")
        if name not in fields or (rest and ("__" in rest or fields[name].get_lookup(rest) is None)):
            return None
        children.append((f"{prefix}__{lookup}", value))
    return Q(*children, _connector=q.connector, _negated=q.negated)


# --- the figures -------------------------------------------------------------------------------------
# Planner settings for the evaluation's own transaction (restored after it):
# - random_page_cost: a month is a few per cent of the tables, read through indexes and joined row by row to its
#   cases. With the default (4, spinning disks) PostgreSQL prices those index probes so high that it scans and
#   hashes the whole case or event table instead, and the cost grows with history; 1.1 is the usual value for
#   SSDs and cached data.
# - jit: the working-time expressions make the estimated cost of a month of a large table cross jit_above_cost;
#   compiling them then takes longer (≈100 ms) than running them.
# Measured in bench/evaluation.py.
MONTH_PLANNER_SETTINGS = {"random_page_cost": "1.1", "jit": "off"}


@contextmanager
def _month_plans():
    with transaction.atomic(), connection.cursor() as cur:
        names = list(MONTH_PLANNER_SETTINGS)
        cur.execute("SELECT " + ", ".join("current_setting(%s)" for _ in names), names)
        before = dict(zip(names, cur.fetchone(), strict=True))
        change = {k: v for k, v in MONTH_PLANNER_SETTINGS.items()
                  if before[k] != v and not (k == "random_page_cost" and float(before[k]) <= float(v))}

        def apply(values):
            if values:
                cur.execute("SELECT " + ", ".join("set_config(%s, %s, true)" for _ in values),
                            [x for kv in values.items() for x in kv])

        apply(change)
        try:
            yield
        finally:
            apply({k: before[k] for k in change})


def figures_live(*, user, month: str, by: str) -> list[Row]:
    """Figures of one month, grouped ``by`` department, grid or worker, over cases the user can see, computed
    from the rows (the reference the kept aggregates are checked against)."""
    if connection.vendor != "postgresql":
        return finish(_figures(user=user, month=month, by=by), by)
    with _month_plans():
        return finish(_figures(user=user, month=month, by=by), by)


def tally(*, subdistrict_id: int, month: str, by: str) -> dict[int | None, Row]:
    """The counters of one sub-district's month (no labels): what ``evaluation_rebuild`` stores."""
    cases = Case.objects.filter(subdistrict_id=subdistrict_id)
    if connection.vendor != "postgresql":
        return _tally(Q(case__subdistrict_id=subdistrict_id), cases, month, by)
    with _month_plans():
        return _tally(Q(case__subdistrict_id=subdistrict_id), cases, month, by)


def _figures(*, user, month: str, by: str) -> dict[int | None, Row]:
    scope = _through_case(user, "case")
    if scope is None:
        return {}
    return _tally(scope, Case.objects.visible_to(user), month, by)


def _tally(scope: Q, cases, month: str, by: str) -> dict[int | None, Row]:
    """``scope``: the condition on the case joined from an assignment or event; ``cases``: the visible cases."""
    start, end = month_bounds(month)
    rows: dict[int | None, Row] = {}

    def row(key):
        if key not in rows:
            rows[key] = Row(key, "")
        return rows[key]

    in_sql = connection.vendor == "postgresql"
    calendars = _calendars() if in_sql else None
    if in_sql:  # the month, and up to today: where accept, feedback and verify times of its cases fall
        today = dt.datetime.now(SH).date()
        window = _window((start - dt.timedelta(days=31)).date(), max(today, end.date()) + dt.timedelta(days=31),
                         (calendars[0], *sorted(calendars[1].values(), key=id)))

    if by == "department":
        # Every assignment, the lead's and each co-handler's: a co-handling department's work counts for it too.
        assigned = CaseAssignment.objects.filter(scope, dispatched_at__gte=start, dispatched_at__lt=end)
        closed = Q(case__state=CaseState.CLOSED, case__closed_at__isnull=False)
        timed = Q(accepted_at__isnull=False, feedback_at__isnull=False)
        figures = {
            "dispatched": Count("*"),
            "co_handled": Count("id", filter=Q(role=AssignmentRole.CO)),
            "reworked": Count("id", filter=Q(case__rework_count__gt=0)),
            "returned": Count("id", filter=Q(state=AssignmentState.RETURNED)),
            "postponed": Count("id", filter=Q(case__postponed=True)),
            "closed": Count("id", filter=closed),
            "closed_on_time": Count("id", filter=closed & Q(case__deadline_at__isnull=False,
                                                           case__closed_at__lte=F("case__deadline_at"))),
            "satisfaction_total": Sum("case__satisfaction", filter=Q(case__satisfaction__gt=0)),
            "satisfaction_count": Count("id", filter=Q(case__satisfaction__gt=0)),
            "handling_count": Count("id", filter=timed),
        }
        if in_sql:
            # Rounded to whole microseconds row by row (the timestamps' resolution), as the kept aggregates add
            # them, so both sum the same integers.
            figures["handling_us"] = Sum(Cast(Round(_office_seconds_between(
                "accepted_at", "feedback_at", "case__subdistrict_id", calendars, window) * Value(1e6)),
                BigIntegerField()), filter=timed)
        for a in assigned.values("department_id").annotate(**figures).order_by():
            r = row(a["department_id"])
            for name in ("dispatched", "co_handled", "reworked", "returned", "postponed", "closed", "closed_on_time",
                         "satisfaction_count", "handling_count"):
                setattr(r, name, a[name])
            r.satisfaction_total = a["satisfaction_total"] or 0
            if in_sql:
                r.handling_us = int(a["handling_us"] or 0)
        if not in_sql:
            cals: dict[int, WorkCalendar] = {}
            for dept, sub, accepted, feedback in assigned.filter(timed).values_list(
                    "department_id", "case__subdistrict_id", "accepted_at", "feedback_at"):
                cal = cals.setdefault(sub, WorkCalendar(sub))
                rows[dept].handling_us += round(cal.working_hours_between(accepted, feedback) * US_PER_HOUR)
        return rows

    key = {"grid": "grid_id", "worker": "reporter_id"}[by]
    month_cases = cases.filter(reported_at__gte=start, reported_at__lt=end)
    counts = list(month_cases.values(key).annotate(
        reported=Count("*"),
        registered=Count("id", filter=Q(registered_at__isnull=False)),
        dispatched=Count("id", filter=Q(dispatched_at__isnull=False)),
        closed=Count("id", filter=Q(state=CaseState.CLOSED)),
        closed_on_time=Count("id", filter=Q(state=CaseState.CLOSED, closed_at__lte=F("deadline_at"))),
        reworked=Count("id", filter=Q(rework_count__gt=0)),
        returned=Count("id", filter=Q(return_count__gt=0)),
        postponed=Count("id", filter=Q(postponed=True)),
        satisfaction_total=Sum("satisfaction"),
        satisfaction_count=Count("satisfaction"),
    ).order_by())
    for c in counts:
        r = row(c[key])
        for name in ("reported", "registered", "dispatched", "closed", "closed_on_time", "reworked", "returned",
                     "postponed", "satisfaction_count"):
            setattr(r, name, c[name])
        r.satisfaction_total = c["satisfaction_total"] or 0

    # Verification on time: from the last feedback (the case's handled_at) to the verify event, in working hours.
    # By worker, verification counts for the worker who verified (they may have reported nothing this month);
    # such a row is labelled with the worker's name.
    verify = CaseEvent.objects.filter(scope, action="verify", case__reported_at__gte=start,
                                      case__reported_at__lt=end)
    group = "actor_id" if by == "worker" else f"case__{key}"
    if in_sql:
        within = LessThanOrEqual(_office_seconds_between("case__handled_at", "created_at", "case__subdistrict_id",
                                                         calendars, window), VERIFY_HOURS * 3600)
        verified = [(e[group], e["verified"], e["on_time"]) for e in verify.values(group).annotate(
            # counting case_id, not id: the verify index holds it, so PostgreSQL reads the events from the index
            verified=Count("case"), on_time=Count("case", filter=Q(Q(case__handled_at__isnull=False), within))
        ).order_by()]
    else:
        seen: dict = {}
        cals = {}
        for k, sub, handled, created in verify.values_list(group, "case__subdistrict_id", "case__handled_at",
                                                           "created_at"):
            t = seen.setdefault(k, [0, 0])
            t[0] += 1
            if handled:
                cal = cals.setdefault(sub, WorkCalendar(sub))
                t[1] += cal.working_hours_between(handled, created) <= VERIFY_HOURS
        verified = [(k, n, on_time) for k, (n, on_time) in seen.items()]
    for k, n, on_time in verified:
        r = row(k)
        r.verified += n
        r.verified_on_time += on_time
    return rows


def finish(rows: dict[int | None, Row], by: str) -> list[Row]:
    """Labels and order: the same for figures computed from the rows and for the kept aggregates."""
    if by == "department":
        names = dict(OrgUnit.objects.filter(pk__in=[k for k in rows if k is not None]).values_list("id", "name"))
        labels = {k: names.get(k, "") for k in rows}
        count = "dispatched"
    else:
        # A row with cases reported is labelled as its grid or reporter; a worker who only verified this month's
        # cases, with their name as the timeline shows it.
        labels = _labels(by, [k for k, r in rows.items() if r.reported])
        if by == "worker":
            labels |= _labels("verifier", [k for k, r in rows.items() if not r.reported])
        count = "reported"
    for k, r in rows.items():
        r.label = labels.get(k) or "（未指定）"
    # The key breaks ties (two rows with the same count and label), so the order never depends on the plan.
    return sorted(rows.values(), key=lambda r: (-getattr(r, count), r.label, r.key is not None, r.key or 0))


def _labels(kind: str, keys) -> dict:
    """Row labels: a grid's code and name; a reporter's display name; a verifier's name as the timeline shows it."""
    from jiedao.kernel.models import User
    from jiedao.places.models import Grid

    keys = [k for k in keys if k is not None]
    if not keys:
        return {}
    if kind == "grid":  # as the grid is named everywhere (Grid.__str__): the code alone says nothing to a reader
        return {pk: f"{code} {name}".strip() for pk, code, name in
                Grid.objects.filter(pk__in=keys).values_list("id", "code", "name")}
    users = User.objects.filter(pk__in=keys).values_list("id", "display_name", "username")
    if kind == "worker":
        return {pk: name for pk, name, _u in users}
    return {pk: name or username for pk, name, username in users}  # str(user), as CaseEvent.actor_name
