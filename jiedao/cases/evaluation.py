"""绩效考评 (GOV-4): per department, grid and worker, per month. Formulas are in docs/cases.md.

All counts come from a handful of grouped queries over the month's cases and events, so the cost grows
with one month's volume, not with history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db.models import Count, F, Q

from jiedao.kernel.calendar import WorkCalendar

from .choices import AssignmentState, CaseState
from .models import Case, CaseAssignment, CaseEvent

SH = ZoneInfo("Asia/Shanghai")
DIMENSIONS = ("department", "grid", "worker")


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
    handling_hours: list[float] = field(default_factory=list)
    satisfaction: list[int] = field(default_factory=list)  # follow-up ratings of the reporters (1–5)

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
        return round(sum(self.satisfaction) / len(self.satisfaction), 2) if self.satisfaction else None

    @property
    def mean_handling_hours(self):
        return round(sum(self.handling_hours) / len(self.handling_hours), 1) if self.handling_hours else None

    def as_dict(self) -> dict:
        return {
            "key": self.key, "label": self.label, "reported": self.reported, "registered": self.registered,
            "dispatched": self.dispatched, "closed": self.closed, "on_time_close_rate": self.on_time_close_rate,
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


def evaluation(*, user, month: str, by: str) -> list[Row]:
    """Figures of one month, grouped ``by`` department, grid or worker, over cases the user can see."""
    if by not in DIMENSIONS:
        raise ValueError(by)
    start, end = month_bounds(month)
    cases = Case.objects.visible_to(user)
    rows: dict[int | None, Row] = {}

    def row(key, label):
        if key not in rows:
            rows[key] = Row(key, label or "（未指定）")
        return rows[key]

    if by == "department":
        assignments = CaseAssignment.objects.filter(case__in=cases.values("pk"), dispatched_at__gte=start,
                                                    dispatched_at__lt=end, role="lead")
        for a in assignments.values("department_id", "department__name", "state", "case__state",
                                    "case__rework_count", "case__return_count", "case__postponed",
                                    "case__closed_at", "case__deadline_at", "accepted_at", "feedback_at",
                                    "case__subdistrict_id", "case__satisfaction"):
            r = row(a["department_id"], a["department__name"])
            r.dispatched += 1
            r.reworked += a["case__rework_count"] > 0
            r.returned += a["state"] == AssignmentState.RETURNED
            r.postponed += bool(a["case__postponed"])
            if a["case__state"] == CaseState.CLOSED and a["case__closed_at"]:
                r.closed += 1
                r.closed_on_time += bool(a["case__deadline_at"] and a["case__closed_at"] <= a["case__deadline_at"])
            if a["case__satisfaction"]:
                r.satisfaction.append(a["case__satisfaction"])
            if a["accepted_at"] and a["feedback_at"]:
                r.handling_hours.append(WorkCalendar(a["case__subdistrict_id"]).working_hours_between(
                    a["accepted_at"], a["feedback_at"]))
        return sorted(rows.values(), key=lambda r: (-r.dispatched, r.label))

    group = {"grid": ("grid_id", "grid__code"), "worker": ("reporter_id", "reporter__display_name")}[by]
    month_cases = cases.filter(reported_at__gte=start, reported_at__lt=end)
    counts = month_cases.values(*group).annotate(
        reported=Count("id"),
        registered=Count("id", filter=Q(registered_at__isnull=False)),
        dispatched=Count("id", filter=Q(dispatched_at__isnull=False)),
        closed=Count("id", filter=Q(state=CaseState.CLOSED)),
        closed_on_time=Count("id", filter=Q(state=CaseState.CLOSED, closed_at__lte=F("deadline_at"))),
        reworked=Count("id", filter=Q(rework_count__gt=0)),
        returned=Count("id", filter=Q(return_count__gt=0)),
        postponed=Count("id", filter=Q(postponed=True)),
    )
    for c in counts:
        r = row(c[group[0]], c[group[1]])
        for name in ("reported", "registered", "dispatched", "closed", "closed_on_time", "reworked", "returned",
                     "postponed"):
            setattr(r, name, c[name])
    # Verification on time: from the last feedback to the verify event, in working hours.
    # Ratings after the counts, so rows keep their labels.
    for key, rating in month_cases.filter(satisfaction__isnull=False).values_list(group[0], "satisfaction"):
        row(key, "").satisfaction.append(rating)
    # By worker, verification counts for the worker who verified (they may have reported nothing this month).
    verify_events = CaseEvent.objects.filter(case__in=month_cases.values("pk"), action="verify") \
        .values("case_id", "created_at", "case__handled_at", "case__subdistrict_id", "case__" + group[0], "actor_id",
                "actor_name")
    for e in verify_events:
        key = e["actor_id"] if by == "worker" else e["case__" + group[0]]
        r = row(key, e["actor_name"] if by == "worker" else "")
        r.verified += 1
        if e["case__handled_at"]:
            hours = WorkCalendar(e["case__subdistrict_id"]).working_hours_between(e["case__handled_at"], e["created_at"])
            r.verified_on_time += 0 <= hours <= VERIFY_HOURS
    return sorted(rows.values(), key=lambda r: (-r.reported, r.label))
