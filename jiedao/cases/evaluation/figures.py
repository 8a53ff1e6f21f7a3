"""绩效考评 kept incrementally (GOV-4): the counters of ``live.Row`` per sub-district, month, dimension and key,
in ``EvaluationFigure``, so that reading a month costs the same however many cases it holds.

- ``contribution()`` states what one case adds to the figures, per the formulas of ``live._tally`` (docs/cases.md):
  by department, each assignment (lead or co-handling) in the month of its ``dispatched_at``; by grid and worker,
  the case in the month of its ``reported_at``, and its verify events by the case's grid / by the verifier.
  Working hours come from ``kernel.calendar.WorkCalendar``, as in the live computation on SQLite (PostgreSQL
  computes the same in SQL; both round handling time to whole microseconds, the timestamps' resolution, so sums
  are integers).
- Every writer applies ``after − before`` of the cases it changes, in its own transaction, as increments (one
  ``INSERT … ON CONFLICT DO UPDATE SET x = x + excluded.x`` for all the rows it touches): ``case_report``
  through ``figures_case_reported`` (a new case: no reads), ``case_transition`` through ``figures_track``.
- ``figures_rebuild`` recomputes months from the rows with the live code (after bulk loads, data fixes that
  bypass the services, or a change of the holiday data or office hours); ``figures_check`` compares.
  ``figures_calendar_changed`` rebuilds the months whose working-time figures a changed CalendarDay touches.
- ``figures_where`` says whose view the aggregates can answer: users who see whole sub-districts.

docs/decisions/0008-evaluation-aggregates.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from jiedao.kernel.calendar import WorkCalendar
from jiedao.kernel.scoping import user_scope

from ..choices import AssignmentRole, AssignmentState, CaseState
from ..models import Case, CaseAssignment, CaseEvent, EvaluationFigure
from .live import COUNTERS, DIMENSIONS, SH, US_PER_HOUR, VERIFY_HOURS, Row, month_bounds, tally

NONE_KEY = 0  # the key of "no grid" / "no reporter" (ids start at 1)
# What contribution() reads of a case.
CASE_FIELDS = ("subdistrict_id", "reported_at", "grid_id", "reporter_id", "registered_at", "dispatched_at", "state",
               "closed_at", "deadline_at", "rework_count", "return_count", "postponed", "satisfaction", "handled_at",
               "verified_at")

Cell = tuple[str, dt.date, int]  # (dimension, month, key)


class Assigned(NamedTuple):
    department_id: int
    state: str
    dispatched_at: dt.datetime
    accepted_at: dt.datetime | None
    feedback_at: dt.datetime | None
    role: str


class Verify(NamedTuple):
    actor_id: int | None
    created_at: dt.datetime


def month_of(moment: dt.datetime) -> dt.date:
    return moment.astimezone(SH).date().replace(day=1)


class Hours:
    """Working hours between two moments by each sub-district's calendar, remembered for one write (the same
    intervals are measured before and after it)."""

    def __init__(self):
        self._calendars: dict[int, WorkCalendar] = {}
        self._seen: dict[tuple, float] = {}

    def __call__(self, subdistrict_id: int, start: dt.datetime, end: dt.datetime) -> float:
        key = (subdistrict_id, start, end)
        if key not in self._seen:
            cal = self._calendars.setdefault(subdistrict_id, WorkCalendar(subdistrict_id))
            self._seen[key] = cal.working_hours_between(start, end)
        return self._seen[key]


def contribution(case, assignments: Iterable[Assigned], verifies: Iterable[Verify],
                 hours: Callable[[int, dt.datetime, dt.datetime], float] | None) -> dict[Cell, dict[str, int]]:
    """What one case adds to the figures (the same formulas as ``live._tally``, row by row)."""
    out: dict[Cell, dict[str, int]] = {}

    def add(dimension, month, key, **counts):
        cell = out.setdefault((dimension, month, NONE_KEY if key is None else key), dict.fromkeys(COUNTERS, 0))
        for name, n in counts.items():
            cell[name] += n

    sub = case.subdistrict_id
    sat = case.satisfaction
    closed = case.state == CaseState.CLOSED
    closed_dept = closed and case.closed_at is not None
    on_time = closed_dept and case.deadline_at is not None and case.closed_at <= case.deadline_at
    for a in assignments:
        timed = a.accepted_at is not None and a.feedback_at is not None
        add("department", month_of(a.dispatched_at), a.department_id, dispatched=1,
            co_handled=int(a.role == AssignmentRole.CO),
            reworked=int(case.rework_count > 0), returned=int(a.state == AssignmentState.RETURNED),
            postponed=int(bool(case.postponed)), closed=int(closed_dept), closed_on_time=int(on_time),
            satisfaction_total=sat if sat and sat > 0 else 0, satisfaction_count=int(bool(sat and sat > 0)),
            handling_count=int(timed),
            handling_us=round(hours(sub, a.accepted_at, a.feedback_at) * US_PER_HOUR) if timed else 0)

    month = month_of(case.reported_at)
    counts = {"reported": 1, "registered": int(case.registered_at is not None),
              "dispatched": int(case.dispatched_at is not None), "closed": int(closed),
              "closed_on_time": int(on_time), "reworked": int(case.rework_count > 0),
              "returned": int(case.return_count > 0), "postponed": int(bool(case.postponed)),
              "satisfaction_total": sat or 0, "satisfaction_count": int(sat is not None)}
    add("grid", month, case.grid_id, **counts)
    add("worker", month, case.reporter_id, **counts)
    for v in verifies:
        within = case.handled_at is not None and hours(sub, case.handled_at, v.created_at) <= VERIFY_HOURS
        add("grid", month, case.grid_id, verified=1, verified_on_time=int(within))
        add("worker", month, v.actor_id, verified=1, verified_on_time=int(within))
    return out


def _difference(after: dict[Cell, dict[str, int]], before: dict[Cell, dict[str, int]]) -> dict[Cell, dict[str, int]]:
    zero = dict.fromkeys(COUNTERS, 0)
    out = {}
    for cell in after.keys() | before.keys():
        a, b = after.get(cell, zero), before.get(cell, zero)
        d = {name: a[name] - b[name] for name in COUNTERS}
        if any(d.values()):
            out[cell] = d
    return out


def figures_add(*, subdistrict_id: int, delta: dict[Cell, dict[str, int]], batch=None) -> None:
    """Add ``delta`` to the kept figures: one statement for all its rows, in a fixed order (so two writers lock
    shared rows in the same order). With ``batch`` (kernel.rows.Batch) the statement goes with the caller's."""
    cells = sorted(cell for cell, d in delta.items() if any(d.values()))
    if not cells:
        return
    table = EvaluationFigure._meta.db_table
    qn = connection.ops.quote_name
    # Only the counters that change (an intake changes one): fewer values to send, fewer columns to update; a new
    # row gets 0 for the others from the database's defaults.
    changed = [name for name in COUNTERS if any(delta[cell][name] for cell in cells)]
    columns = ("subdistrict_id", "month", "dimension", "key", *changed)
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # Only our own table and column names go into the text; every value is a parameter.
    sql = (f"INSERT INTO {qn(table)} ({', '.join(qn(c) for c in columns)}) "  # noqa: S608
           f"VALUES {', '.join([one] * len(cells))} "
           f"ON CONFLICT ({', '.join(qn(c) for c in columns[:4])}) DO UPDATE SET "
           + ", ".join(f"{qn(c)} = {qn(table)}.{qn(c)} + excluded.{qn(c)}" for c in changed))
    params: list = []
    for dimension, month, key in cells:
        d = delta[(dimension, month, key)]
        params += [subdistrict_id, connection.ops.adapt_datefield_value(month), dimension, key,
                   *(d[name] for name in changed)]
    if batch is not None:
        batch.add(sql, params)
        return
    with connection.cursor() as cur:
        cur.execute(sql, params)


def figures_case_reported(case: Case, *, batch=None) -> None:
    """Intake: a new case adds itself (no assignments, no events yet, so nothing to read)."""
    figures_add(subdistrict_id=case.subdistrict_id, delta=contribution(case, (), (), None), batch=batch)


class Tracked:
    """A case's contribution before a write; ``apply()`` after it adds the difference."""

    def __init__(self, case: Case):
        self.hours = Hours()
        self.pk = case.pk
        self.before = self._contribution(case)

    def _contribution(self, case) -> dict[Cell, dict[str, int]]:
        snap = SimpleNamespace(**{name: getattr(case, name) for name in CASE_FIELDS})
        # Only a dispatched case has assignments and only a verified one verify events (both times are set by the
        # transition that makes them and never cleared): the others need no read.
        assigned = [Assigned(*a) for a in CaseAssignment.objects.filter(case_id=self.pk).values_list(
            "department_id", "state", "dispatched_at", "accepted_at", "feedback_at", "role")] \
            if snap.dispatched_at else []
        verifies = [Verify(*e) for e in CaseEvent.objects.filter(case_id=self.pk, action="verify")
                    .values_list("actor_id", "created_at")] if snap.verified_at else []
        return contribution(snap, assigned, verifies, self.hours)

    def apply(self, case: Case) -> None:
        figures_add(subdistrict_id=case.subdistrict_id, delta=_difference(self._contribution(case), self.before))


def figures_track(case: Case) -> Tracked:
    """Call with the locked case before changing it or its assignments/events; then ``.apply(case)``."""
    return Tracked(case)


# --- reading -------------------------------------------------------------------------------------
def figures_where(user) -> Q | None:
    """The kept figures that give exactly what the user may see: a condition on EvaluationFigure when the user sees
    whole sub-districts (superusers; leaders, dispatchers… whose every other reach lies inside those), else
    None (a department, a committee, a grid worker: the live query over their own slice)."""
    scope = user_scope(user)
    if scope.everything:
        return Q()
    if scope.user_id is None or not scope.has("cases.view") or not scope.wide_subdistrict_ids:
        return None
    wide = scope.wide_subdistrict_ids
    # Case.scope_q adds the user's own reports, their departments' cases and their grids' cases: the aggregates
    # answer only if all of those lie inside the wide sub-districts (a department and a grid belong to one).
    from jiedao.kernel.models import OrgUnit
    from jiedao.places.models import Grid

    if scope.org_unit_ids and OrgUnit.objects.filter(pk__in=scope.org_unit_ids).exclude(
            subdistrict_id__in=wide).exists():
        return None
    if scope.grid_ids and Grid.objects.filter(pk__in=scope.grid_ids).exclude(subdistrict_id__in=wide).exists():
        return None
    if Case.objects.filter(reporter_id=scope.user_id).exclude(subdistrict_id__in=wide).exists():
        return None
    return Q(subdistrict_id__in=sorted(wide))


def figures_read(*, where: Q, month: str, by: str) -> dict[int | None, Row]:
    """The kept counters of a month, summed over the sub-districts ``where`` selects (labels come later)."""
    start, _end = month_bounds(month)
    rows: dict[int | None, Row] = {}
    for f in EvaluationFigure.objects.filter(where, month=start.date(), dimension=by).values("key") \
            .annotate(**{name: Sum(name) for name in COUNTERS}).order_by():
        if not (f["reported"] or f["dispatched"] or f["verified"]):  # a row every case has left
            continue
        key = None if f["key"] == NONE_KEY else f["key"]
        rows[key] = Row(key, "", **{name: int(f[name]) for name in COUNTERS})
    return rows


# --- rebuilding ----------------------------------------------------------------------------------
def _months(subdistrict_id: int | None) -> set[tuple[int, dt.date]]:
    """Every (sub-district, month) that has cases, assignments or kept figures."""
    def pairs(qs, sub_field, moment):
        if subdistrict_id is not None:
            qs = qs.filter(**{sub_field: subdistrict_id})
        return {(s, _as_date(m)) for s, m in qs.annotate(m=TruncMonth(moment, tzinfo=SH))
                .values_list(sub_field, "m").distinct().order_by()}

    found = pairs(Case.objects.all(), "subdistrict_id", "reported_at")
    found |= pairs(CaseAssignment.objects.all(), "subdistrict_id", "dispatched_at")
    kept = EvaluationFigure.objects.all()
    if subdistrict_id is not None:
        kept = kept.filter(subdistrict_id=subdistrict_id)
    return found | set(kept.values_list("subdistrict_id", "month").distinct().order_by())


def _as_date(value) -> dt.date:
    return value.astimezone(SH).date() if isinstance(value, dt.datetime) else value


def _lock() -> None:
    """Writers wait while a month is rebuilt (each adds its own change on top afterwards, so nothing is lost or
    counted twice); reads go on. SQLite has one writer at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f"LOCK TABLE {connection.ops.quote_name(EvaluationFigure._meta.db_table)} "
                        "IN SHARE ROW EXCLUSIVE MODE")


def _pairs(subdistrict_id: int | None, months) -> list[tuple[int, dt.date]]:
    if months is None:
        return sorted(_months(subdistrict_id))
    from jiedao.kernel.models import Subdistrict

    subs = [subdistrict_id] if subdistrict_id is not None else list(Subdistrict.objects.values_list("pk", flat=True))
    return sorted({(s, m.replace(day=1)) for s in subs for m in months})


def figures_rebuild(*, subdistrict_id: int | None = None, months: Iterable[dt.date] | None = None,
                    dimensions: Iterable[str] = DIMENSIONS) -> int:
    """Recompute the kept figures from the rows (the live computation), one transaction per sub-district and
    month. ``months`` None: every month that has data. Returns the number of months rebuilt."""
    dimensions = tuple(dimensions)
    pairs = _pairs(subdistrict_id, months)
    for sub, month in pairs:
        with transaction.atomic():
            _lock()
            EvaluationFigure.objects.filter(subdistrict_id=sub, month=month, dimension__in=dimensions).delete()
            EvaluationFigure.objects.bulk_create([
                EvaluationFigure(subdistrict_id=sub, month=month, dimension=dimension,
                                 key=NONE_KEY if key is None else key, **{n: getattr(r, n) for n in COUNTERS})
                for dimension in dimensions
                for key, r in tally(subdistrict_id=sub, month=f"{month:%Y-%m}", by=dimension).items()])
    return len(pairs)


def figures_check(*, subdistrict_id: int | None = None, months: Iterable[dt.date] | None = None) -> list[str]:
    """Differences between the kept figures and the live computation (empty: the same)."""
    problems = []
    for sub, month in _pairs(subdistrict_id, months):
        for dimension in DIMENSIONS:
            live = {k: {n: getattr(r, n) for n in COUNTERS}
                    for k, r in tally(subdistrict_id=sub, month=f"{month:%Y-%m}", by=dimension).items()}
            kept = {k: {n: getattr(r, n) for n in COUNTERS}
                    for k, r in figures_read(where=Q(subdistrict_id=sub), month=f"{month:%Y-%m}",
                                             by=dimension).items()}
            for key in sorted(live.keys() | kept.keys(), key=lambda k: (k is not None, k or 0)):
                if live.get(key) != kept.get(key):
                    problems.append(f"subdistrict {sub} {month:%Y-%m} {dimension} key {key}: kept {kept.get(key)}, "
                                    f"live {live.get(key)}")
    return problems


def figures_calendar_changed(*, subdistrict_id: int | None, dates) -> None:
    """A holiday or make-up day was entered, changed or removed: rebuild the months whose working-time figures
    (handling time, verification on time) measure an interval across one of those days. Office time is only
    measured between moments that have passed, so a day still to come changes nothing."""
    now = timezone.now()
    department, cases = set(), set()
    for day in dates:
        if not isinstance(day, dt.date):
            day = dt.date.fromisoformat(str(day))
        start = dt.datetime.combine(day, dt.time(), tzinfo=SH)
        end = start + dt.timedelta(days=1)
        if start >= now:
            continue
        assigned = CaseAssignment.objects.filter(accepted_at__lt=end, feedback_at__gt=start)
        verify = CaseEvent.objects.filter(action="verify", created_at__gt=start, case__handled_at__lt=end)
        if subdistrict_id is not None:
            assigned, verify = assigned.filter(case__subdistrict_id=subdistrict_id), verify.filter(
                case__subdistrict_id=subdistrict_id)
        department |= {(s, _as_date(m)) for s, m in assigned.annotate(m=TruncMonth("dispatched_at", tzinfo=SH))
                       .values_list("case__subdistrict_id", "m").distinct().order_by()}
        cases |= {(s, _as_date(m)) for s, m in verify.annotate(m=TruncMonth("case__reported_at", tzinfo=SH))
                  .values_list("case__subdistrict_id", "m").distinct().order_by()}
    for sub, month in sorted(department):
        figures_rebuild(subdistrict_id=sub, months=[month], dimensions=("department",))
    for sub, month in sorted(cases):
        figures_rebuild(subdistrict_id=sub, months=[month], dimensions=("grid", "worker"))
