"""Reads of the inspection engine: due lists, coverage, scores and rankings — always scoped."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Avg, Count, Q

from jiedao.kernel.calendar import WorkCalendar
from jiedao.kernel.exceptions import NotFound

from .models import ChecklistTemplate, Inspection, InspectionPlan
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
    """What is open on ``on`` for the inspector (default: the user): one query for plans and targets,
    one for the inspections that already fulfil the open periods."""
    inspector = inspector or user
    plans = list(InspectionPlan.objects.visible_to(user).filter(
        inspector=inspector, active=True, start_date__lte=on).filter(Q(end_date__isnull=True) | Q(end_date__gte=on))
        .prefetch_related("targets"))
    calendars: dict[int, WorkCalendar] = {}
    open_now = []
    for plan in plans:
        cal = calendars.setdefault(plan.subdistrict_id, WorkCalendar(plan.subdistrict_id))
        occ = next((o for o in occurrences(plan, on, on, cal) if o.first <= on <= o.last), None)
        if occ:
            open_now.append((plan, occ))
    done = set()
    if open_now:
        q = Q()
        for plan, occ in open_now:
            q |= Q(plan_id=plan.pk, period_key=occ.key)
        done = set(Inspection.objects.filter(q).values_list("plan_id", "target_type", "target_id"))
    out = []
    for plan, occ in open_now:
        for t in plan.targets.all():
            out.append(DueItem(plan.pk, plan.name, plan.template_code, t.target_type, t.target_id, t.target_name,
                               occ.key, occ.last, (plan.pk, t.target_type, t.target_id) in done, t.lat, t.lng))
    out.sort(key=lambda d: (d.done, d.due_by, d.plan_name, d.target_name))
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
        .exclude(lat=None).select_related("template")[:2000]
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
