"""Reads of the inspection engine: due lists, coverage, scores and rankings — always scoped."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from operator import attrgetter

from django.db.models import Avg, Count, Q

from jiedao.kernel.calendar import WorkCalendar
from jiedao.kernel.exceptions import NotFound

from .models import ChecklistTemplate, Inspection, InspectionPlan, PlanTarget
from .services.schedule import occurrences


@dataclass
class DueItem:
    plan_id: int
    plan_name: str
    template_code: str
    target_type: str
    target_id: int
    target_name: str
    period_key: str
    due_by: dt.date
    done: bool
    lat: float | None = None
    lng: float | None = None


def due_list(*, user, on: dt.date, inspector=None) -> list[DueItem]:
    """What is open on ``on`` for the inspector (default: the user): one query for plans, one for their targets,
    one for the inspections that already fulfil the open periods."""
    inspector = inspector or user
    return due_lists_for_period(user=user, start=on, end=on, inspectors=[inspector])[inspector.pk][on]


_DUE_ORDER = attrgetter("done", "due_by", "plan_name", "target_name")
_KEYS_PER_QUERY = 500  # period keys per query for the done inspections: one query for up to a year and more


def due_lists_for_period(*, user, start: dt.date, end: dt.date,
                         inspectors=None) -> dict[int, dict[dt.date, list[DueItem]]]:
    """Every inspector's due list for every day of [start, end] — ``{inspector_id: {day: [DueItem, …]}}``, each
    list what ``due_list`` gives for that day — from the plans ``user`` may see.

    ``inspectors`` (users or ids) limits the plans to theirs, and each of them gets a list for every day, maybe
    empty; without it, every inspector of a visible plan does. The queries do not grow with the period: plans,
    their targets, and the inspections that fulfil the occurrences (one query per 500 period keys, i.e. one for a
    year), plus the working calendar's. The items of one occurrence are the same objects on every day it is
    open, so treat them as read-only."""
    if end < start:
        return {}
    plans = InspectionPlan.objects.visible_to(user).filter(active=True, start_date__lte=end) \
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=start))
    wanted_inspectors: list[int] = []
    if inspectors is not None:
        wanted_inspectors = [getattr(i, "pk", i) for i in inspectors]
        plans = plans.filter(inspector_id__in=wanted_inspectors)
    plans = list(plans.order_by("pk"))

    # Expand the occurrences; an occurrence is open on the days of [first, last] inside the period.
    n_days = (end - start).days + 1
    calendars: dict[int, WorkCalendar] = {}
    open_occ = []  # (plan, occurrence, first day index, last day index)
    for plan in plans:
        cal = calendars.setdefault(plan.subdistrict_id, WorkCalendar(plan.subdistrict_id))
        seen = set()
        for occ in occurrences(plan, start, end, cal):
            lo, hi = (max(occ.first, start) - start).days, (min(occ.last, end) - start).days
            if lo <= hi and occ.key not in seen:  # a date given twice is one occurrence
                seen.add(occ.key)
                open_occ.append((plan, occ, lo, hi))

    # The targets of the plans open in the period, as plain rows (no model instances: a plan may have hundreds).
    targets: dict[int, list[tuple]] = defaultdict(list)
    open_plan_ids = sorted({plan.pk for plan, _occ, _lo, _hi in open_occ})
    if open_plan_ids:
        for row in PlanTarget.objects.filter(plan_id__in=open_plan_ids).order_by("pk").values_list(
                "plan_id", "target_type", "target_id", "target_name", "lat", "lng"):
            targets[row[0]].append(row[1:])

    done = set()
    wanted = {(plan.pk, occ.key) for plan, occ, _lo, _hi in open_occ}
    if wanted:
        plan_ids = sorted({p for p, _k in wanted})
        keys = sorted({k for _p, k in wanted})
        for i in range(0, len(keys), _KEYS_PER_QUERY):
            rows = Inspection.objects.filter(plan_id__in=plan_ids, period_key__in=keys[i:i + _KEYS_PER_QUERY]) \
                .values_list("plan_id", "period_key", "target_type", "target_id")
            done.update(r for r in rows if (r[0], r[1]) in wanted)

    # One block of items per open occurrence, listed on each day it is open in plan order (as for one day).
    by_day: dict[int, list[list]] = {i: [[] for _d in range(n_days)] for i in wanted_inspectors}
    for plan, occ, lo, hi in open_occ:
        block = [DueItem(plan.pk, plan.name, plan.template_code, target_type, target_id, target_name, occ.key,
                         occ.last, (plan.pk, occ.key, target_type, target_id) in done, lat, lng)
                 for target_type, target_id, target_name, lat, lng in targets[plan.pk]]
        days = by_day.get(plan.inspector_id)
        if days is None:
            days = by_day[plan.inspector_id] = [[] for _d in range(n_days)]
        for d in range(lo, hi + 1):
            days[d].append(block)

    out: dict[int, dict[dt.date, list[DueItem]]] = {}
    dates = [start + dt.timedelta(days=d) for d in range(n_days)]
    for inspector_id, days in by_day.items():
        lists: dict[dt.date, list[DueItem]] = {}
        previous, ordered = None, []
        for day, blocks in zip(dates, days, strict=True):
            ident = [id(b) for b in blocks]
            if ident != previous:  # the same open occurrences as the day before give the same list
                ordered = [item for b in blocks for item in b]
                ordered.sort(key=_DUE_ORDER)
                previous = ident
            lists[day] = ordered.copy()
        out[inspector_id] = lists
    return out


def coverage(*, user, start: dt.date, end: dt.date) -> list[dict]:
    """Per plan and inspector: occurrences due in [start, end] (× targets), done, missed, rate."""
    rows = []
    plans = InspectionPlan.objects.visible_to(user).select_related("inspector").prefetch_related("targets")
    for plan in plans:
        occs = [o for o in occurrences(plan, start, end) if o.last <= end]
        if not occs:
            continue
        n_targets = len(plan.targets.all())
        due = len(occs) * n_targets
        done = Inspection.objects.filter(plan=plan, period_key__in=[o.key for o in occs]) \
            .values("target_type", "target_id", "period_key").distinct().count()
        rows.append({"plan": plan, "inspector": str(plan.inspector), "due": due, "done": done,
                     "missed": max(due - done, 0), "rate": round(100.0 * done / due, 1) if due else None})
    return sorted(rows, key=lambda r: (r["rate"] if r["rate"] is not None else 101, r["plan"].name))


def scores(*, user, template_code: str, month: str, by: str = "target") -> list[dict]:
    """Average score, checks and pass rate per target (or grid) for one month, ranked best first."""
    year, mon = (int(x) for x in month.split("-"))
    start = dt.date(year, mon, 1)
    end = dt.date(year + (mon == 12), mon % 12 + 1, 1)
    qs = Inspection.objects.visible_to(user).filter(template__code=template_code, finished_at__date__gte=start,
                                                    finished_at__date__lt=end)
    keys = ("target_type", "target_id", "target_name") if by == "target" else ("grid_id", "grid__code")
    rows = list(qs.values(*keys).annotate(avg_score=Avg("score"), checks=Count("id"),
                                          passed=Count("id", filter=Q(passed=True))))
    for r in rows:
        r["label"] = r.get("target_name") or r.get("grid__code") or "—"
        r["pass_rate"] = round(100.0 * r["passed"] / r["checks"], 1) if r["checks"] else None
        r["avg_score"] = round(r["avg_score"], 1) if r["avg_score"] is not None else None
    rows.sort(key=lambda r: (-(r["avg_score"] if r["avg_score"] is not None else -1), -(r["pass_rate"] or 0)))
    for rank, r in enumerate(rows, start=1):
        r["rank"] = rank
    return rows


def score_trend(*, user, template_code: str, target_type: str, target_id: int, months: int = 6,
                until: dt.date | None = None) -> list[dict]:
    until = until or dt.date.today()
    start = dt.date(until.year - (1 if until.month <= months else 0), (until.month - months) % 12 + 1, 1)
    qs = Inspection.objects.visible_to(user).filter(template__code=template_code, target_type=target_type,
                                                    target_id=target_id, finished_at__date__gte=start)
    by_month = defaultdict(list)
    for finished, score in qs.values_list("finished_at", "score"):
        if score is not None:
            by_month[f"{finished:%Y-%m}"].append(score)
    return [{"month": m, "avg_score": round(sum(v) / len(v), 1)} for m, v in sorted(by_month.items())]


def findings_geojson(*, user, since: dt.date) -> dict:
    qs = Inspection.objects.visible_to(user).filter(failed_items__gt=0, finished_at__date__gte=since) \
        .exclude(lat=None).select_related("template").order_by("-finished_at")[:2000]
    return {"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [i.lng, i.lat]},
        "properties": {"id": i.pk, "target": i.target_name, "template": i.template.name, "failed": i.failed_items,
                       "date": f"{i.finished_at:%Y-%m-%d}"}} for i in qs]}


def inspection_get_visible(*, user, inspection_id: int) -> Inspection:
    obj = Inspection.objects.visible_to(user).select_related("template", "inspector", "plan") \
        .filter(pk=inspection_id).first()
    if obj is None:
        raise NotFound("not_found", "检查记录不存在。")
    return obj


def template_get_visible(*, user, template_id: int) -> ChecklistTemplate:
    obj = ChecklistTemplate.objects.visible_to(user).filter(pk=template_id).first()
    if obj is None:
        raise NotFound("not_found", "检查表不存在。")
    return obj


def plan_get_visible(*, user, plan_id: int) -> InspectionPlan:
    obj = InspectionPlan.objects.visible_to(user).filter(pk=plan_id).first()
    if obj is None:
        raise NotFound("not_found", "巡查计划不存在。")
    return obj


def plan_calendars(*, user, start: dt.date, end: dt.date, today: dt.date) -> list[dict]:
    """Each visible active plan overlapping [start, end], with its occurrences and how many targets were done
    in each (one grouped query per plan)."""
    out = []
    plans = InspectionPlan.objects.visible_to(user).filter(active=True, start_date__lte=end) \
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=start)).prefetch_related("targets").order_by("name")
    for plan in plans:
        occs = occurrences(plan, start, end)
        if not occs:
            continue
        done = dict(Inspection.objects.filter(plan=plan, period_key__in=[o.key for o in occs])
                    .values("period_key").annotate(n=Count("target_id", distinct=True))
                    .values_list("period_key", "n"))
        n = len(plan.targets.all())
        out.append({"plan": plan, "cells": [{"key": o.key, "first": o.first, "last": o.last,
                                             "done": done.get(o.key, 0), "of": n, "past": o.last < today}
                                            for o in occs]})
    return out
