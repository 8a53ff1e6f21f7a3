"""Benchmark: a year of inspection plans — every inspector's due list for every day.

    .venv/bin/python bench/inspection_plans.py [--year 2020] [--done-share 0.6] [--naive-days N] [--repeat 3]
        [--rounds 2] [--seed 2020]

The world is the demo (``jiedao.demo.loader.load`` with no people and no cases: grids, the 14 roads, 3 rivers,
34 compounds, 679 premises, 71 office buildings, 6 plazas and 6 hotels, the demo users, checklists and the
demo's own ~8 weeks of plans and inspections around today). On top of it, ten inspectors (new users with
``inspections.do`` roles, granted through ``membership_grant``) get plans for ``--year`` that cover EVERY
target of the demo, made with ``plan_create(actor=None)``:

* every arterial and secondary road daily on working days (two road chiefs), every alley weekly (a grid worker);
* every river weekly (a river chief);
* every compound weekly for garbage sorting, working days (three residents' committee members);
* every premises monthly for the epidemic check, working days, from 10 February (two department handlers);
* every office building, plaza and hotel weekly for the epidemic check, working days, from 3 February, and
  the fire-safety check on the working day before each long holiday (given dates; a service specialist).

2020 has the Spring Festival extended by the epidemic, the other statutory holidays and their make-up
workdays (``chinese_calendar``), so working-day plans skip whole weeks and move their last day.
A few inspections go through ``inspection_submit`` (the real path, which sets the period key); then
``--done-share`` of the remaining occurrences × targets are marked done by inserting inspections with
``bulk_create`` as ``inspection_submit`` would store them (plan, period key, target), so "done" is exercised.

Then every inspector's due list for every day of the year is computed four ways, and the answers compared:

* batch — ``selectors.due_lists_for_period(user=<demo leader>, start, end, inspectors=…)``: all plans
  expanded at once, one query for the done inspections (best of ``--repeat``);
* API — ``selectors.due_list(user=inspector, on=day)`` for each inspector and day (what the due-list page
  and ``GET /api/v1/inspections/due`` call; it is now the batch function over one day);
* for reference, ``due_list`` as it was before (its own plan, target, calendar and done queries per call);
* naive — for each inspector and day, one query for their plans joined with the targets and one for the
  done inspections of the open occurrences, then sort (the obvious implementation). The working calendar is
  shared across calls, which favours the naive way: only its two queries per inspector-day are counted.
The users' scopes (``user_scope``) are computed before the timed runs, once per user, as in a request.
The three per-day ways run interleaved, inspector by inspector, ``--rounds`` times; the best round counts.

``--naive-days N`` times the per-day ways on N days spread evenly over the year only and extrapolates to the
whole year (the output says so). Every list must be identical (items, order, done flags); any difference
is printed and fails the run. Queries are counted with a connection execute wrapper in every timed run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from zoneinfo import ZoneInfo

import _common

SH = ZoneInfo("Asia/Shanghai")

# (username, display name, role, org unit code)
INSPECTORS = [
    ("bench-road-1", "路长甲", "road_chief", "dept-cg"),
    ("bench-road-2", "路长乙", "road_chief", "dept-cg"),
    ("bench-alley", "网格员（背街小巷）", "grid_worker", "grid_centre"),
    ("bench-river", "河长", "river_chief", "dept-sw"),
    ("bench-rc-a", "居委会干部甲", "rc_staff", "rc-01"),
    ("bench-rc-b", "居委会干部乙", "rc_staff", "rc-07"),
    ("bench-rc-c", "居委会干部丙", "rc_staff", "rc-13"),
    ("bench-shop-1", "市场监管所甲", "department_handler", "dept-scjg"),
    ("bench-shop-2", "市场监管所乙", "department_handler", "dept-scjg"),
    ("bench-bldg", "服务专员", "service_specialist", "dept-yy"),
]


class QueryCounter:
    def __init__(self):
        self.n = 0

    def __call__(self, execute, sql, params, many, context):
        self.n += 1
        return execute(sql, params, many, context)


def build(year: int, seed: int):
    from jiedao.demo.loader import DemoSize, load
    from jiedao.inspections.services.plans import plan_create
    from jiedao.kernel.models import OrgUnit, User
    from jiedao.kernel.services import membership_grant
    from jiedao.places.models import Building, Compound, Premises, River, Road

    sub = load(seed=seed, size=DemoSize(people=0, cases=0), password="Bench-Password-2026")
    units = {u.code: u for u in OrgUnit.objects.filter(subdistrict=sub)}
    inspectors = []
    for username, label, role, unit in INSPECTORS:
        user = User.objects.create_user(username=username, password="Bench-Password-2026", display_name=label)
        membership_grant(actor=None, user=user, org_unit=units[unit], role=role)
        inspectors.append(user)
    by_name = {u.username: u for u in inspectors}
    leader = User.objects.get(username="demo-leader")

    roads = list(Road.objects.filter(subdistrict=sub).order_by("id"))
    compounds = list(Compound.objects.filter(subdistrict=sub).order_by("id"))
    premises = list(Premises.objects.filter(subdistrict=sub).order_by("id"))
    buildings = list(Building.objects.filter(subdistrict=sub, kind__in=["office", "plaza", "hotel"]).order_by("id"))
    rivers = list(River.objects.filter(subdistrict=sub).order_by("id"))
    jan1 = dt.date(year, 1, 1)
    third = len(compounds) // 3
    half = len(premises) // 2
    # The working day before each long holiday of 2020 (fire safety before the festival).
    before_holidays = [f"{year}-01-23", f"{year}-04-30", f"{year}-06-24", f"{year}-09-30"]
    specs = [
        ("主干道每日巡查", "ROAD", "bench-road-1", "daily", True, jan1, None,
         [("road", r.pk) for r in roads if r.road_class == "arterial"]),
        ("次干道每日巡查", "ROAD", "bench-road-2", "daily", True, jan1, None,
         [("road", r.pk) for r in roads if r.road_class == "secondary"]),
        ("背街小巷每周巡查", "ROAD", "bench-alley", "weekly", False, jan1, None,
         [("road", r.pk) for r in roads if r.road_class not in ("arterial", "secondary")]),
        ("河道每周巡查", "RIVER", "bench-river", "weekly", False, jan1, None, [("river", r.pk) for r in rivers]),
        ("垃圾分类周检（一片）", "GS", "bench-rc-a", "weekly", True, jan1, None,
         [("compound", c.pk) for c in compounds[:third]]),
        ("垃圾分类周检（二片）", "GS", "bench-rc-b", "weekly", True, jan1, None,
         [("compound", c.pk) for c in compounds[third:2 * third]]),
        ("垃圾分类周检（三片）", "GS", "bench-rc-c", "weekly", True, jan1, None,
         [("compound", c.pk) for c in compounds[2 * third:]]),
        ("沿街商铺疫情防控月检（东）", "EPI-SHOP", "bench-shop-1", "monthly", True, dt.date(year, 2, 10), None,
         [("premises", p.pk) for p in premises[:half]]),
        ("沿街商铺疫情防控月检（西）", "EPI-SHOP", "bench-shop-2", "monthly", True, dt.date(year, 2, 10), None,
         [("premises", p.pk) for p in premises[half:]]),
        ("楼宇、广场、酒店疫情防控周检", "EPI-BLDG", "bench-bldg", "weekly", True, dt.date(year, 2, 3), None,
         [("building", b.pk) for b in buildings]),
        ("节前消防安全检查", "SAFE-FIRE", "bench-bldg", "dates", True, jan1, None,
         [("building", b.pk) for b in buildings]),
    ]
    plans = []
    for name, code, inspector, freq, workdays, start, end, targets in specs:
        plans.append(plan_create(actor=None, subdistrict=sub, name=name, template_code=code,
                                 inspector=by_name[inspector], frequency=freq, start_date=start, end_date=end,
                                 workdays_only=workdays, targets=targets,
                                 dates=before_holidays if freq == "dates" else None))
    return sub, leader, inspectors, plans


def make_done(sub, plans, year: int, share: float, seed: int) -> tuple[int, int]:
    """A few inspections through inspection_submit, then ``share`` of the rest inserted directly."""
    from jiedao.demo.inspections import _answers
    from jiedao.inspections.models import Inspection
    from jiedao.inspections.services.inspect import inspection_submit
    from jiedao.inspections.services.schedule import occurrences
    from jiedao.inspections.services.templates import template_current
    from jiedao.kernel.calendar import WorkCalendar

    rnd = random.Random(seed)
    cal = WorkCalendar(sub.pk)
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    templates = {p.template_code: template_current(subdistrict_id=sub.pk, code=p.template_code) for p in plans}
    real = 0
    for plan in plans:  # the real path: two inspections per plan, in its first two occurrences
        occs = occurrences(plan, start, end, cal)[:2]
        for occ, t in zip(occs, plan.targets.all()[:2], strict=False):
            finished = dt.datetime.combine(occ.first, dt.time(10, 30), tzinfo=SH)
            ins = inspection_submit(actor=plan.inspector, subdistrict=sub, template=templates[plan.template_code],
                                    plan=plan, target_type=t.target_type, target_id=t.target_id,
                                    answers=_answers(templates[plan.template_code], rnd, 1.0),
                                    started_at=finished - dt.timedelta(minutes=20), finished_at=finished)
            assert ins.period_key == occ.key, (ins.period_key, occ.key)
            real += 1
    existing = set(Inspection.objects.filter(plan__in=plans).values_list("plan_id", "period_key", "target_type",
                                                                           "target_id"))
    rows = []
    for plan in plans:
        template = templates[plan.template_code]
        for occ in occurrences(plan, start, end, cal):
            for t in plan.targets.all():
                if (plan.pk, occ.key, t.target_type, t.target_id) in existing or rnd.random() >= share:
                    continue
                day = occ.first + dt.timedelta(days=rnd.randint(0, (occ.last - occ.first).days))
                finished = dt.datetime.combine(day, dt.time(rnd.randint(9, 16), rnd.randint(0, 59)), tzinfo=SH)
                rows.append(Inspection(
                    subdistrict=sub, template=template, plan=plan, period_key=occ.key, inspector_id=plan.inspector_id,
                    started_at=finished - dt.timedelta(minutes=15), finished_at=finished, target_type=t.target_type,
                    target_id=t.target_id, target_name=t.target_name, lat=t.lat, lng=t.lng, grid_id=t.grid_id))
    Inspection.objects.bulk_create(rows, batch_size=1000)
    return real, len(rows)


def naive_due_list(inspector, day, calendars):
    """One query for the inspector's plans with their targets, one for the done inspections; then sort."""
    from django.db.models import Q

    from jiedao.inspections.models import Inspection, PlanTarget
    from jiedao.inspections.selectors import DueItem
    from jiedao.inspections.services.schedule import occurrence_on
    from jiedao.kernel.calendar import WorkCalendar

    rows = list(PlanTarget.objects.filter(plan__inspector=inspector, plan__active=True, plan__start_date__lte=day)
                .filter(Q(plan__end_date__isnull=True) | Q(plan__end_date__gte=day))
                .select_related("plan").order_by("plan_id", "id"))
    occ = {}
    for t in rows:
        if t.plan_id not in occ:
            cal = calendars.setdefault(t.plan.subdistrict_id, WorkCalendar(t.plan.subdistrict_id))
            occ[t.plan_id] = occurrence_on(t.plan, day, cal)
    done = set()
    open_now = [(plan_id, o.key) for plan_id, o in occ.items() if o is not None]
    if open_now:
        q = Q()
        for plan_id, key in open_now:
            q |= Q(plan_id=plan_id, period_key=key)
        done = set(Inspection.objects.filter(q).values_list("plan_id", "target_type", "target_id"))
    out = [DueItem(t.plan_id, t.plan.name, t.plan.template_code, t.target_type, t.target_id, t.target_name,
                   occ[t.plan_id].key, occ[t.plan_id].last, (t.plan_id, t.target_type, t.target_id) in done,
                   t.lat, t.lng) for t in rows if occ[t.plan_id] is not None]
    out.sort(key=lambda d: (d.done, d.due_by, d.plan_name, d.target_name))
    return out


def old_due_list(*, user, on, inspector=None):
    """``selectors.due_list`` as it was before ``due_lists_for_period`` (copied from git), for reference."""
    from django.db.models import Q

    from jiedao.inspections.models import Inspection, InspectionPlan
    from jiedao.inspections.selectors import DueItem
    from jiedao.inspections.services.schedule import occurrences
    from jiedao.kernel.calendar import WorkCalendar

    inspector = inspector or user
    plans = list(InspectionPlan.objects.visible_to(user).filter(
        inspector=inspector, active=True, start_date__lte=on).filter(Q(end_date__isnull=True) | Q(end_date__gte=on))
        .prefetch_related("targets"))
    calendars = {}
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--year", type=int, default=2020)
    ap.add_argument("--done-share", type=float, default=0.6)
    ap.add_argument("--naive-days", type=int, default=None, help="default: every day of the year")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the batch (best is reported)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of the per-day ways (best is reported)")
    ap.add_argument("--seed", type=int, default=2020)
    args = ap.parse_args()

    t0 = time.perf_counter()
    backend = _common.setup_django()
    migrate_s = time.perf_counter() - t0

    from django.db import connection

    from jiedao.inspections.models import Inspection, PlanTarget
    from jiedao.inspections.selectors import due_list, due_lists_for_period
    from jiedao.inspections.services.schedule import occurrences
    from jiedao.kernel.calendar import WorkCalendar
    from jiedao.kernel.scoping import user_scope

    t1 = time.perf_counter()
    sub, leader, inspectors, plans = build(args.year, args.seed)
    real, bulk = make_done(sub, plans, args.year, args.done_share, args.seed)
    build_s = time.perf_counter() - t1

    start, end = dt.date(args.year, 1, 1), dt.date(args.year, 12, 31)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    n_sample = min(args.naive_days or len(days), len(days))
    sample = [days[round(i * (len(days) - 1) / max(n_sample - 1, 1))] for i in range(n_sample)] \
        if n_sample < len(days) else days
    cal = WorkCalendar(sub.pk)
    n_occ = n_target_occ = 0
    for plan in plans:
        occs = occurrences(plan, start, end, cal)
        n_occ += len(occs)
        n_target_occ += len(occs) * plan.targets.count()
    workdays = sum(cal.is_workday(d) for d in days)
    weekend_workdays = sum(1 for d in days if d.weekday() >= 5 and cal.is_workday(d))
    n_targets = PlanTarget.objects.filter(plan__in=plans).count()
    by_type = {}
    for tt in PlanTarget.objects.filter(plan__in=plans).values_list("target_type", flat=True):
        by_type[tt] = by_type.get(tt, 0) + 1
    n_insp_year = Inspection.objects.filter(plan__in=plans).count()
    n_insp_all = Inspection.objects.count()

    for user in (leader, *inspectors):  # as a request would have it: the scope is computed once per user
        user_scope(user)
    counter = QueryCounter()
    timings, queries = {}, {}
    batch_runs = []
    with connection.execute_wrapper(counter):
        for _ in range(args.repeat):
            counter.n = 0
            t = time.perf_counter()
            batch = due_lists_for_period(user=leader, start=start, end=end, inspectors=inspectors)
            batch_runs.append(time.perf_counter() - t)
            queries["batch"] = counter.n
        timings["batch"] = min(batch_runs)

        # The per-day ways take seconds each: they run interleaved, inspector by inspector, so that the load of
        # a shared machine falls on all of them alike; each round's totals are kept, the best round reported.
        calendars = {}
        per_day = {
            "api": lambda u, d: due_list(user=u, on=d),
            "old": lambda u, d: old_due_list(user=u, on=d),
            "naive": lambda u, d: naive_due_list(u, d, calendars),
        }
        results = {name: {} for name in per_day}
        rounds = {name: [] for name in per_day}
        for _ in range(args.rounds):
            spent = dict.fromkeys(per_day, 0.0)
            for u in inspectors:
                for name, fn in per_day.items():
                    counter.n = 0
                    t = time.perf_counter()
                    lists = {(u.pk, d): fn(u, d) for d in sample}
                    spent[name] += time.perf_counter() - t
                    queries[name] = queries.get(name, 0) + counter.n
                    results[name].update(lists)
            for name in per_day:
                rounds[name].append(spent[name])
        for name in per_day:
            timings[name] = min(rounds[name])
            queries[name] //= args.rounds
        api, old, naive = results["api"], results["old"], results["naive"]

    bad = []
    for u in inspectors:
        for d in sample:
            b = batch[u.pk][d]
            if not (b == api[(u.pk, d)] == naive[(u.pk, d)] == old[(u.pk, d)]):
                bad.append((u.username, d))
    due_items = sum(len(v) for lists in batch.values() for v in lists.values())
    done_items = sum(1 for lists in batch.values() for v in lists.values() for it in v if it.done)
    sample_items = sum(len(v) for v in naive.values())
    max_items = max(len(v) for lists in batch.values() for v in lists.values())
    calls = len(inspectors) * len(days)
    scale = len(days) / len(sample)

    print(f"machine: {_common.machine()}; database: {backend}")
    print(f"set-up: migrate {migrate_s:.1f} s; demo + inspectors + plans + inspections {build_s:.1f} s")
    print(f"year {args.year}: {len(days)} days, {workdays} working days ({weekend_workdays} of them make-up "
          f"weekend days)")
    print(f"plans: {len(plans)} for {len(inspectors)} inspectors, {n_targets:,} plan targets "
          f"({', '.join(f'{k} {v:,}' for k, v in sorted(by_type.items()))})")
    print(f"occurrences expanded: {n_occ:,} (× targets: {n_target_occ:,}); inspections: {n_insp_year:,} of these "
          f"plans in {args.year} ({real} through inspection_submit, {bulk:,} inserted, done share "
          f"{args.done_share:.0%}), {n_insp_all:,} in the database")
    print(f"due lists: {calls:,} (inspector × day); due items: {due_items:,}, of them done {done_items:,}; "
          f"longest list {max_items:,}")
    print(f"batch runs: {', '.join(f'{s:.3f}' for s in batch_runs)} s; per-day rounds: "
          + "; ".join(f"{name} {', '.join(f'{s:.2f}' for s in rounds[name])} s" for name in per_day))
    print()
    print(f"{'method':<58}{'lists':>7}{'queries':>9}{'seconds':>9}{'year, s':>9}{'vs naive':>10}")
    naive_year = timings["naive"] * scale
    table = [
        (f"batch: due_lists_for_period, best of {args.repeat}", calls, queries["batch"], timings["batch"], 1.0),
        (f"API: due_list(user=inspector, on=day), best of {args.rounds}", len(inspectors) * len(sample), queries["api"],
         timings["api"], scale),
        (f"  ref: due_list before this change, best of {args.rounds}", len(inspectors) * len(sample), queries["old"],
         timings["old"], scale),
        (f"naive: 2 queries per inspector-day, best of {args.rounds}", len(inspectors) * len(sample),
         queries["naive"], timings["naive"], scale),
    ]
    for label, lists, nq, secs, sc in table:
        year_s = secs * sc
        print(f"{label:<58}{lists:>7,}{nq:>9,}{secs:>9.3f}{year_s:>9.2f}{naive_year / year_s:>9.1f}×")
    if len(sample) < len(days):
        print(f"(the per-day ways timed on {len(sample)} days spread over the year ({sample_items:,} items); "
              f"'year, s' extrapolates them ×{scale:.2f} to all {len(days)} days)")
    print(f"naive / batch: {naive_year / timings['batch']:.1f}×; API / batch: "
          f"{timings['api'] * scale / timings['batch']:.1f}×")
    if bad:
        who, d = bad[0]
        print(f"DIFFERENT due lists for {len(bad)} inspector-days, e.g. {who} on {d}")
        return 1
    print(f"due lists identical: batch, API, old due_list and naive on {len(inspectors) * len(sample):,} inspector-days")
    return 0


if __name__ == "__main__":
    sys.exit(main())
