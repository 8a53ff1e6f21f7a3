"""Benchmark: 绩效考评 and the case pages on PostgreSQL with 1,000,000 and then 2,000,000 cases.

    .venv/bin/python bench/evaluation.py [--sizes 1000000,2000000] [--runs 20] [--months 24]
            [--shape density|history] [--db NAME] [--explain] [--check] [--deadlines]

Needs PostgreSQL (``--pg-url``, default postgres://postgres@127.0.0.1:5432/postgres; loopback only). By default
a throwaway database ``jiedao_bench_eval_<pid>`` is created and dropped at the end; ``--db NAME`` keeps a
database between runs instead (the data already there is reused and topped up to each size).

World: the 新江湾城 demo without demo cases (49 grids, 13 departments, categories with default departments,
the role users) plus 8 grid workers who report and verify. Cases are generated in SQL (INSERT … SELECT over
generate_series, 250,000 per batch; FK triggers off during the load): reported uniformly over the last
``--months`` months; sources (grid worker 50 %, 12345 30 %, residents 10 %, sensors 10 %); states by age (older
cases are closed, rejected or merged, the last two weeks are spread over the whole workflow); registered →
dispatched → accepted → handled → verified → closed times with realistic gaps; deadlines, postponements (8 %),
rework (10 %), returns (5 %, with the returned lead assignment), co-handlers (10 %), satisfaction for most
closed 12345/resident cases; a lead assignment per dispatched case, and the co-handlers'; the timeline events of every step
(report, register, dispatch, accept, feedback, verify, close, reject, merge, rework, return), all written in
time order as a live system writes them. ``--shape density`` (default) spreads the second million over the
same months, so a month holds twice as many cases at 2M as at 1M; ``--shape history`` puts it in the months
before, so a month holds as many cases and only the history doubles.

At each size, through the Django test client (in process; a leader for the evaluation, the dispatcher for the
pages): the evaluation page and API of the last full month by department, grid and worker; the dispatcher
console's first page (state=dispatched, one grid, default order: deadline); a case page and its API detail
(20 different cases). 2 warm-up requests, then ``--runs`` timed ones: p50 and p90; then the 2M/1M ratios and
pass/fail against the goals (evaluation p50 < 300 ms at 1M and ≤ 1.2× at 2M; pages p50 < 200 ms at 1M).
The load bypasses the services, so after each size the kept 绩效考评 figures (docs/decisions/0008) are rebuilt from
the rows, as ``manage.py evaluation_rebuild`` does after a bulk load; that is timed and reported on its own.
``--explain`` prints EXPLAIN (ANALYZE, BUFFERS) of the slowest statement of each endpoint; ``--check``
compares what ``evaluation()`` shows the leader (the kept figures) with a straightforward reference
implementation (per-row Python over the month's rows) and with the live computation, and every kept counter of
the month with the live ones; ``--deadlines`` times ``check_deadlines()``, which the console runs once a minute
in the embedded set-up (excluded from the console's timings).
"""

from __future__ import annotations

import argparse
import atexit
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import _common

BATCH = 250_000
GRID_WORKERS = 8

# One batch of cases, computed once into a temporary table, then copied into cases, assignments and events.
STAGE_SQL = """
CREATE TEMP TABLE bench_stage ON COMMIT DROP AS
WITH drawn AS (
    SELECT %(t0)s::timestamptz + make_interval(secs => random() * %(slice_s)s) AS rep,
           random() AS r_stage, random() AS r_grid, random() AS r_cat, random() AS r_src, random() AS r_who,
           random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5, random() AS r6,
           random() AS r7, random() AS r8, random() AS r9, random() AS r10, random() AS r11, random() AS r12
    FROM generate_series(1, %(n)s) g
), base AS (  -- ids in time order, as a live system writes them
    SELECT %(id0)s::bigint - 1 + row_number() OVER (ORDER BY d.rep) AS id, d.* FROM drawn d
), timed AS (
    SELECT b.*,
           extract(epoch FROM %(now)s::timestamptz - b.rep) / 86400 AS age_days,
           1 + floor(power(b.r_grid, 1.4) * %(n_grids)s)::int AS gi,        -- busier grids first
           1 + floor(power(b.r_cat, 2.0) * %(n_cats)s)::int AS ci,          -- a few categories dominate
           CASE WHEN b.r_src < 0.5 THEN 'grid_worker' WHEN b.r_src < 0.8 THEN 'hotline'
                WHEN b.r_src < 0.9 THEN 'resident' ELSE 'sensor' END AS source,
           b.rep + make_interval(secs => 360 + b.r1 * 28440) AS reg,        -- 0.1–8 h after the report
           make_interval(secs => 360 + b.r2 * 14040) AS d_dis,              -- 0.1–4 h
           make_interval(secs => 720 + b.r3 * 85680) AS d_acc,              -- 0.2–24 h
           make_interval(secs => 3600 + power(b.r4, 1.5) * 255600) AS d_han,  -- 1–72 h
           make_interval(secs => 1800 + CASE WHEN b.r5 < 0.8 THEN b.r5 * 33750 ELSE b.r5 * 172800 END) AS d_ver,
           make_interval(secs => 360 + b.r6 * 28440) AS d_clo
    FROM base b
), chained AS (
    SELECT t.*, t.reg + t.d_dis AS dis, t.reg + t.d_dis + t.d_acc AS acc,
           t.reg + t.d_dis + t.d_acc + t.d_han AS han,
           t.reg + t.d_dis + t.d_acc + t.d_han + t.d_ver AS ver,
           t.reg + t.d_dis + t.d_acc + t.d_han + t.d_ver + t.d_clo AS clo,
           -- 0 reported … 6 closed, 7 rejected, 8 merged
           CASE WHEN t.age_days > 60 THEN
                    CASE WHEN t.r_stage < 0.950 THEN 6 WHEN t.r_stage < 0.980 THEN 7 WHEN t.r_stage < 0.995 THEN 8
                         ELSE 2 + floor((t.r_stage - 0.995) / 0.005 * 4)::int END
                WHEN t.age_days > 14 THEN
                    CASE WHEN t.r_stage < 0.900 THEN 6 WHEN t.r_stage < 0.930 THEN 7 WHEN t.r_stage < 0.940 THEN 8
                         ELSE 2 + floor((t.r_stage - 0.94) / 0.06 * 4)::int END
                ELSE CASE WHEN t.r_stage < 0.05 THEN 0 WHEN t.r_stage < 0.10 THEN 1 WHEN t.r_stage < 0.22 THEN 2
                          WHEN t.r_stage < 0.40 THEN 3 WHEN t.r_stage < 0.52 THEN 4 WHEN t.r_stage < 0.60 THEN 5
                          WHEN t.r_stage < 0.96 THEN 6 WHEN t.r_stage < 0.99 THEN 7 ELSE 8 END
           END AS stage0
    FROM timed t
)
SELECT c.*,
       CASE WHEN c.stage0 >= 7 THEN c.stage0
            ELSE LEAST(c.stage0, CASE WHEN c.reg > %(now)s THEN 0 WHEN c.dis > %(now)s THEN 1 WHEN c.acc > %(now)s THEN 2
                                      WHEN c.han > %(now)s THEN 3 WHEN c.ver > %(now)s THEN 4
                                      WHEN c.clo > %(now)s THEN 5 ELSE 6 END) END AS stage,
       (%(grid_ids)s::bigint[])[c.gi] AS grid_id, (%(grid_lat)s::float8[])[c.gi] AS glat,
       (%(grid_lng)s::float8[])[c.gi] AS glng, (%(cat_ids)s::bigint[])[c.ci] AS category_id,
       (%(cat_dept)s::bigint[])[c.ci] AS lead_dept,
       (%(dept_ids)s::bigint[])[1 + (c.ci + 1 + floor(c.r12 * 11)::int) %% %(n_depts)s] AS other_dept,
       (%(worker_ids)s::bigint[])[1 + (c.gi + floor(c.r_who * 2)::int) %% %(n_workers)s] AS worker
FROM chained c;
"""

CASES_SQL = """
INSERT INTO cases_case (id, subdistrict_id, source, external_id, category_id, title, description, address,
    lat, lng, grid_id, urgency, state, version, reporter_id, reporter_name, reporter_phone, public_token,
    lead_department_id, deadline_at, reported_at, registered_at, dispatched_at, handled_at, verified_at, closed_at,
    supervision_level, postpone_requested_until, postponed, rework_count, return_count, duplicate_of_id,
    duplicate_candidates, satisfaction, follow_up_note)
SELECT s.id, %(sub)s, s.source, CASE WHEN s.source IN ('hotline', 'sensor') THEN 'B' || s.id ELSE '' END, s.category_id,
    '巡查发现的问题 ' || s.id, '人行道上有暴露垃圾，影响通行（批量生成的测试案件）', '淞沪路' || (s.id %% 900) || '号',
    s.glat + (s.r7 - 0.5) * 0.002, s.glng + (s.r8 - 0.5) * 0.002, s.grid_id,
    CASE WHEN s.r11 < 0.1 THEN 'urgent' ELSE 'normal' END,
    (ARRAY['reported', 'registered', 'dispatched', 'accepted', 'handled', 'verified', 'closed', 'rejected',
           'merged'])[s.stage + 1],
    1 + s.stage, CASE WHEN s.source = 'grid_worker' THEN s.worker END,
    CASE WHEN s.source IN ('hotline', 'resident') THEN '市民' ELSE '' END, '', md5(s.id::text)::varchar(16),
    CASE WHEN s.stage BETWEEN 2 AND 6 THEN s.lead_dept ELSE s.lead_dept END,
    s.rep + CASE WHEN s.r11 < 0.1 THEN interval '1 day' ELSE interval '4 days' END
          + CASE WHEN s.stage BETWEEN 2 AND 6 AND s.r9 < 0.08 THEN interval '3 days' ELSE interval '0' END,
    s.rep,
    CASE WHEN s.stage BETWEEN 1 AND 6 THEN s.reg END,
    CASE WHEN s.stage BETWEEN 2 AND 6 THEN s.dis END,
    CASE WHEN s.stage BETWEEN 4 AND 6 THEN s.han END,
    CASE WHEN s.stage BETWEEN 5 AND 6 THEN s.ver END,
    CASE WHEN s.stage = 6 THEN s.clo WHEN s.stage >= 7 THEN s.reg END,
    CASE WHEN s.stage BETWEEN 2 AND 3 AND s.r10 < 0.1 THEN 1 ELSE 0 END, NULL,
    s.stage BETWEEN 2 AND 6 AND s.r9 < 0.08,
    CASE WHEN s.stage BETWEEN 4 AND 6 AND s.r10 < 0.02 THEN 2 WHEN s.stage BETWEEN 4 AND 6 AND s.r10 < 0.10 THEN 1
         ELSE 0 END,
    CASE WHEN s.stage BETWEEN 2 AND 6 AND s.r12 < 0.05 THEN 1 ELSE 0 END,
    NULL, '[]'::jsonb,
    CASE WHEN s.stage = 6 AND s.source IN ('hotline', 'resident') AND s.r5 < 0.7
         THEN (ARRAY[5, 5, 5, 4, 4, 3, 2, 1])[1 + floor(s.r3 * 8)::int] END, ''
FROM bench_stage s ORDER BY s.id;
"""

ASSIGNMENTS_SQL = """
INSERT INTO cases_caseassignment (subdistrict_id, case_id, department_id, role, state, feedback, dispatched_at,
    accepted_at, feedback_at)
SELECT * FROM (
SELECT %(sub)s, s.id, s.lead_dept, 'lead',
       CASE WHEN s.stage >= 4 THEN 'feedback' WHEN s.stage = 3 THEN 'accepted' ELSE 'dispatched' END,
       CASE WHEN s.stage >= 4 THEN '已安排人员现场处置完毕' ELSE '' END, s.dis,
       CASE WHEN s.stage >= 3 THEN s.acc END, CASE WHEN s.stage >= 4 THEN s.han END
FROM bench_stage s WHERE s.stage BETWEEN 2 AND 6
UNION ALL  -- the lead that returned the case before it was dispatched again
SELECT %(sub)s, s.id, s.other_dept, 'lead', 'returned', '', s.dis - interval '3 hours', NULL, NULL
FROM bench_stage s WHERE s.stage BETWEEN 2 AND 6 AND s.r12 < 0.05
UNION ALL  -- joint handling
SELECT %(sub)s, s.id, s.other_dept, 'co',
       CASE WHEN s.stage >= 4 THEN 'feedback' WHEN s.stage = 3 THEN 'accepted' ELSE 'dispatched' END, '', s.dis,
       CASE WHEN s.stage >= 3 THEN s.acc END, CASE WHEN s.stage >= 4 THEN s.han - interval '10 minutes' END
FROM bench_stage s WHERE s.stage BETWEEN 2 AND 6 AND s.r12 BETWEEN 0.05 AND 0.15
) AS a ORDER BY 7;  -- written in the order of dispatch, as a live system writes them
"""

EVENTS_SQL = """
INSERT INTO cases_caseevent (subdistrict_id, case_id, action, from_state, to_state, actor_id, actor_name,
    department_id, comment, data, created_at)
SELECT %(sub)s, s.id, e.action, e.from_state, e.to_state, e.actor, e.actor_name, e.dept, e.comment, '{}'::jsonb, e.at
FROM bench_stage s
CROSS JOIN LATERAL (VALUES
    (0, 'report', '', 'reported', CASE WHEN s.source = 'grid_worker' THEN s.worker END,
        CASE WHEN s.source = 'grid_worker' THEN 'worker' ELSE '市民' END, NULL::bigint, '人行道上有暴露垃圾', s.rep),
    (1, 'register', 'reported', 'registered', %(dispatcher)s, 'dispatcher', NULL, '', s.reg),
    (2, 'dispatch', 'registered', 'dispatched', %(dispatcher)s, 'dispatcher', NULL, '', s.dis),
    (3, 'accept', 'dispatched', 'accepted', %(handler)s, 'handler', s.lead_dept, '', s.acc),
    (4, 'feedback', 'accepted', 'handled', %(handler)s, 'handler', s.lead_dept, '已安排人员现场处置完毕', s.han),
    (5, 'verify', 'handled', 'verified', s.worker, 'worker', NULL, '', s.ver),
    (6, 'close', 'verified', 'closed', %(dispatcher)s, 'dispatcher', NULL, '', s.clo),
    (7, 'reject', 'reported', 'rejected', %(dispatcher)s, 'dispatcher', NULL, '不属于受理范围', s.reg),
    (8, 'merge', 'reported', 'merged', %(dispatcher)s, 'dispatcher', NULL, '', s.reg),
    (9, 'rework', 'handled', 'accepted', s.worker, 'worker', NULL, '现场复查仍未处理到位', s.han - interval '1 hour'),
    (10, 'return', 'dispatched', 'registered', %(handler)s, 'handler', s.other_dept, '非本部门职责',
        s.dis - interval '2 hours')
) AS e(step, action, from_state, to_state, actor, actor_name, dept, comment, at)
WHERE (e.step = 0)
   OR (e.step BETWEEN 1 AND 6 AND s.stage BETWEEN e.step AND 6)
   OR (e.step = s.stage AND s.stage IN (7, 8))
   OR (e.step = 9 AND s.stage BETWEEN 4 AND 6 AND s.r10 < 0.10)
   OR (e.step = 10 AND s.stage BETWEEN 2 AND 6 AND s.r12 < 0.05)
ORDER BY e.at;  -- written in time order, as a live system writes them
"""


def log(msg: str) -> None:
    print(msg, flush=True)


def setup(args) -> tuple[str, bool]:
    """Point Django at the bench database (created if needed); returns (name, throwaway)."""
    import psycopg

    parts = urlsplit(args.pg_url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("--pg-url must point at the loopback")
    name, throwaway = (args.db, False) if args.db else (f"jiedao_bench_eval_{os.getpid()}", True)
    with psycopg.connect(args.pg_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if throwaway and exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if throwaway or not exists:
            conn.execute(f'CREATE DATABASE "{name}"')

    if throwaway:
        def drop():
            from django.db import connections

            connections.close_all()
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        atexit.register(drop)
    tmp = tempfile.mkdtemp(prefix="jiedao-bench-eval-")
    atexit.register(lambda: __import__("shutil").rmtree(tmp, ignore_errors=True))
    os.environ["DJANGO_SETTINGS_MODULE"] = "jiedao.settings.test"
    os.environ["JIEDAO_VAR_DIR"] = tmp
    os.environ["JIEDAO_MEDIA_ROOT"] = str(Path(tmp) / "media")
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
    import django

    django.setup()
    return name, throwaway


def build_world():
    """The demo world without demo cases, plus grid workers who report and verify (idempotent)."""
    from django.core.management import call_command

    from jiedao.demo import loader
    from jiedao.kernel.models import OrgUnit, User
    from jiedao.kernel.services import membership_grant

    call_command("migrate", verbosity=0, interactive=False)
    if loader.database_is_empty():
        loader.load(size=loader.DemoSize(people=200, cases=0))
    centre = OrgUnit.objects.get(code="grid_centre")
    for i in range(1, GRID_WORKERS + 1):
        user, created = User.objects.get_or_create(username=f"bench-gw-{i}",
                                                   defaults={"display_name": f"网格员{i:02d}"})
        if created:
            membership_grant(actor=None, user=user, org_unit=centre, role="grid_worker")


def world_params() -> dict:
    import datetime as dt

    from django.utils import timezone

    from jiedao.cases.models import CaseCategory
    from jiedao.kernel.models import OrgUnit, Subdistrict, User
    from jiedao.places.models import Grid

    sub = Subdistrict.objects.order_by("pk").first()
    grids = list(Grid.objects.filter(subdistrict=sub).order_by("code").values_list("id", "lat", "lng"))
    depts = list(OrgUnit.objects.filter(subdistrict=sub, kind="department").order_by("code").values_list("id", flat=True))
    cats = list(CaseCategory.objects.filter(subdistrict=sub, is_leaf=True, active=True, kind="event")
                .order_by("code").values_list("id", "default_department_id"))
    workers = list(User.objects.filter(username__startswith="bench-gw-").order_by("username").values_list("id", flat=True))
    # The base clock is fixed per database (the first generation), so topping up keeps one time span.
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value text)")
        cur.execute("SELECT value FROM bench_meta WHERE key = 'now'")
        row = cur.fetchone()
        if row is None:
            now = timezone.now().replace(microsecond=0)
            cur.execute("INSERT INTO bench_meta VALUES ('now', %s)", [now.isoformat()])
        else:
            now = dt.datetime.fromisoformat(row[0])
    return {
        "sub": sub.pk, "now": now,
        "grid_ids": [g[0] for g in grids], "grid_lat": [g[1] for g in grids], "grid_lng": [g[2] for g in grids],
        "n_grids": len(grids),
        "cat_ids": [c[0] for c in cats], "cat_dept": [c[1] or depts[i % len(depts)] for i, c in enumerate(cats)],
        "n_cats": len(cats), "dept_ids": depts, "n_depts": len(depts),
        "worker_ids": workers, "n_workers": len(workers),
        "dispatcher": User.objects.get(username="demo-dispatcher").pk,
        "handler": User.objects.get(username="demo-department").pk,
    }


def case_count() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM cases_case")
        return cur.fetchone()[0]


def _batch(p: dict, id0: int) -> str:
    """One batch in its own transaction (and, in a worker thread, its own connection)."""
    from django.db import connection, transaction

    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SET LOCAL session_replication_role = replica")  # no FK triggers during the bulk load
            cur.execute("SET LOCAL synchronous_commit = off")
            cur.execute("SET LOCAL work_mem = '256MB'")
            steps = []
            for name, sql in (("stage", STAGE_SQL), ("cases", CASES_SQL), ("assignments", ASSIGNMENTS_SQL),
                              ("events", EVENTS_SQL)):
                t1 = time.perf_counter()
                cur.execute(sql, {**p, "id0": id0})
                steps.append(f"{name} {time.perf_counter() - t1:.0f} s")
        return ", ".join(steps)
    finally:
        connection.close()


def generate(target: int, months: int, jobs: int, back_months: int = 0) -> dict:
    """Top the case table up to ``target`` rows (``jobs`` batches at a time), reported over the ``months`` months
    that end ``back_months`` months ago; returns timings and row counts."""
    import datetime as dt
    import math
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    p = world_params()
    span = dt.timedelta(days=months * 30.4375)
    end = p["now"] - dt.timedelta(days=back_months * 30.4375)
    have = case_count()
    todo = max(0, target - have)
    batches = math.ceil(todo / BATCH) if todo else 0
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM cases_case")
        next_id = cur.fetchone()[0] + 1
    work = []
    for b in range(batches):
        # Batch b covers the b-th slice of the time span and the b-th block of ids: ids follow time.
        n = todo // batches + (b < todo % batches)
        work.append(({**p, "t0": end - span + span * b / batches, "slice_s": (span / batches).total_seconds(),
                      "n": n}, next_id))
        next_id += n
    t0 = time.perf_counter()
    done = have
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for (bp, _id0), steps in zip(work, pool.map(lambda w: _batch(*w), work), strict=True):
            done += bp["n"]
            log(f"  … {done:,} cases ({time.perf_counter() - t0:.0f} s; batch: {steps})")
    made = todo
    with connection.cursor() as cur:
        for table in ("cases_case", "cases_caseassignment", "cases_caseevent"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    gen_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    if made:
        with connection.cursor() as cur:
            for table in ("cases_case", "cases_caseassignment", "cases_caseevent"):
                cur.execute(f"VACUUM (ANALYZE) {table}")
            cur.execute("CHECKPOINT")  # write the load out now, not while the requests are timed
    counts = {}
    with connection.cursor() as cur:
        for table in ("cases_case", "cases_caseassignment", "cases_caseevent"):
            cur.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cur.fetchone()[0]
    return {"made": made, "generate_s": gen_s, "vacuum_s": time.perf_counter() - t1, "counts": counts,
            "now": p["now"]}


def rebuild() -> tuple[float, int]:
    """The bulk load bypasses the services, so the kept 绩效考评 figures are rebuilt from the rows, as after any
    bulk load (``manage.py evaluation_rebuild``); timed on its own."""
    from django.db import connection

    from jiedao.cases.evaluation.figures import figures_rebuild

    t0 = time.perf_counter()
    months = figures_rebuild()
    seconds = time.perf_counter() - t0
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) cases_evaluationfigure")
    connection.close()  # measure() starts from a fresh server process anyway
    return seconds, months


def targets(now) -> dict:
    """What the measured requests look at: the last full month, the busiest grid, 20 cases of that month."""
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from jiedao.kernel.models import User

    local = timezone.localtime(now)
    month = (local.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    with connection.cursor() as cur:
        cur.execute("SELECT grid_id FROM cases_case WHERE state = 'dispatched' AND grid_id IS NOT NULL "
                    "GROUP BY grid_id ORDER BY count(*) DESC, grid_id LIMIT 1")
        grid_id = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM cases_case WHERE state = 'dispatched' AND grid_id = %s", [grid_id])
        grid_dispatched = cur.fetchone()[0]
        y, m = (int(x) for x in month.split("-"))
        cur.execute("SELECT id FROM cases_case WHERE reported_at >= %s AND reported_at < %s "
                    "ORDER BY md5(id::text) LIMIT 20",
                    [dt.datetime(y, m, 1, tzinfo=dt.UTC), dt.datetime(y, m, 28, tzinfo=dt.UTC)])
        case_ids = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT count(*) FROM cases_case WHERE reported_at >= %s AND reported_at < %s",
                    [dt.datetime(y, m, 1, tzinfo=dt.UTC) - dt.timedelta(hours=8),
                     dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=dt.UTC) - dt.timedelta(hours=8)])
        month_cases = cur.fetchone()[0]
    return {"month": month, "grid_id": grid_id, "grid_dispatched": grid_dispatched, "case_ids": case_ids,
            "month_cases": month_cases,
            "leader": User.objects.get(username="demo-leader"),
            "dispatcher": User.objects.get(username="demo-dispatcher")}


def endpoints(t) -> list[tuple[str, str, object, bool]]:
    """(label, url or url pattern with {case}, user, is an evaluation endpoint)."""
    m = t["month"]
    out = []
    for by in ("department", "grid", "worker"):
        out.append((f"evaluation page by={by}", f"/cases/evaluation/?month={m}&by={by}", t["leader"], True))
    for by in ("department", "grid", "worker"):
        out.append((f"evaluation API by={by}", f"/api/v1/cases/evaluation?month={m}&by={by}", t["leader"], True))
    out.append(("console: dispatched in one grid", f"/cases/?state=dispatched&grid_id={t['grid_id']}",
                t["dispatcher"], False))
    out.append(("case page /cases/<id>/", "/cases/{case}/", t["dispatcher"], False))
    out.append(("API GET /api/v1/cases/<id>", "/api/v1/cases/{case}", t["dispatcher"], False))
    return out


def measure(t, runs: int, explain: bool, passes: int = 4) -> dict:
    """Timed requests in ``passes`` rounds over all endpoints (each waits for a quiet machine first), so a burst
    of someone else's load hits one round, not one endpoint."""
    import math

    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    # A fresh server process for the requests: the one that just ran the bulk load and the whole-table counts
    # answers the same queries 30–40 % slower for the rest of its life (measured; a reconnect restores it).
    connection.close()
    clients = {}
    for _label, _url, user, _is_eval in endpoints(t):
        if user.pk not in clients:
            clients[user.pk] = Client()
            clients[user.pk].force_login(user)

    def get(label, url, user, i):
        u = url.format(case=t["case_ids"][i % len(t["case_ids"])])
        cache.set("cases:deadline-check", 1, 60)  # the once-a-minute deadline check is timed on its own
        t0 = time.perf_counter()
        r = clients[user.pk].get(u)
        ms = (time.perf_counter() - t0) * 1000
        if r.status_code != 200:
            raise SystemExit(f"{u}: HTTP {r.status_code}")
        return ms, r

    results = {}
    for label, url, user, _is_eval in endpoints(t):  # statements of the first request, then one warm-up
        connection.queries_log.clear()  # a full log (9,000 entries) would hide this request's statements
        with CaptureQueriesContext(connection) as ctx:
            _ms, first = get(label, url, user, 0)
        q = list(ctx.captured_queries)  # read now: the next request clears the connection's log
        get(label, url, user, 1)
        slowest = max(q, key=lambda x: float(x["time"])) if q else None
        results[label] = {"times": [], "passes": [], "statements": len(q),
                          "db_ms": sum(float(x["time"]) for x in q) * 1000, "slowest": slowest}
    per_pass = math.ceil(runs / passes)
    idle = []
    for p in range(passes):
        idle.append(_common.wait_for_quiet(max_s=30))
        for label, url, user, _is_eval in endpoints(t):
            times = [get(label, url, user, 2 + p * per_pass + i)[0] for i in range(per_pass)]
            results[label]["times"] += times
            results[label]["passes"].append(statistics.median(times))
    log(f"    {passes} rounds of {per_pass} requests per endpoint; CPU idle before each round: "
        + ", ".join(f"{x:.0%}" for x in idle))
    for label, r in results.items():
        times = r.pop("times")
        r.update(p50=statistics.median(times), p90=_pct(times, 90), best_round=min(r["passes"]))
        log(f"    {label:<36} p50 {r['p50']:8.1f} ms  p90 {r['p90']:8.1f} ms  best round {r['best_round']:8.1f} ms "
            f"({r['statements']} statements, {r['db_ms']:.1f} ms in the database on the first request)")
        slowest = r.pop("slowest")
        if explain and slowest:
            with connection.cursor() as cur:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
                plan = "\n".join(row[0] for row in cur.fetchall())
            log(f"      slowest statement ({float(slowest['time']) * 1000:.1f} ms): {slowest['sql'][:300]}")
            log("      " + plan.replace("\n", "\n      "))
    return results


def deadline_check() -> dict:
    from jiedao.cases.tasks import check_deadlines

    out = {}
    for key in ("first", "again"):
        t0 = time.perf_counter()
        raised = check_deadlines()
        out[key] = (time.perf_counter() - t0, raised)
    return out


def _pct(values, pct):
    s = sorted(values)
    k = (len(s) - 1) * pct / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def reference(*, user, month: str, by: str) -> list[dict]:
    """The evaluation as first written (per-row Python over the month's rows), one calendar per sub-district.

    Kept here to check the optimised ``jiedao.cases.evaluation`` against it on the generated data.
    """
    from django.db.models import Value
    from django.db.models.functions import Concat

    from jiedao.cases.evaluation import VERIFY_HOURS, month_bounds
    from jiedao.cases.models import Case, CaseAssignment, CaseEvent
    from jiedao.kernel.calendar import WorkCalendar

    start, end = month_bounds(month)
    cases = Case.objects.visible_to(user)
    cals: dict = {}

    def cal(sub_id):
        return cals.setdefault(sub_id, WorkCalendar(sub_id))

    rows: dict = {}

    def row(key, label):
        return rows.setdefault(key, {"key": key, "label": label or "（未指定）", "reported": 0, "registered": 0,
                                     "dispatched": 0, "co_handled": 0, "closed": 0, "closed_on_time": 0, "reworked": 0, "returned": 0,
                                     "postponed": 0, "verified": 0, "verified_on_time": 0, "hours": [], "sat": []})

    if by == "department":
        # every assignment, lead and co-handling, counts for its department
        qs = CaseAssignment.objects.filter(case__in=cases.values("pk"), dispatched_at__gte=start, dispatched_at__lt=end)
        for a in qs.values("department_id", "department__name", "role", "state", "case__state", "case__rework_count",
                           "case__postponed", "case__closed_at", "case__deadline_at", "accepted_at", "feedback_at",
                           "case__subdistrict_id", "case__satisfaction"):
            r = row(a["department_id"], a["department__name"])
            r["dispatched"] += 1
            r["co_handled"] += a["role"] == "co"
            r["reworked"] += a["case__rework_count"] > 0
            r["returned"] += a["state"] == "returned"
            r["postponed"] += bool(a["case__postponed"])
            if a["case__state"] == "closed" and a["case__closed_at"]:
                r["closed"] += 1
                r["closed_on_time"] += bool(a["case__deadline_at"] and a["case__closed_at"] <= a["case__deadline_at"])
            if a["case__satisfaction"]:
                r["sat"].append(a["case__satisfaction"])
            if a["accepted_at"] and a["feedback_at"]:
                r["hours"].append(cal(a["case__subdistrict_id"]).working_hours_between(a["accepted_at"],
                                                                                       a["feedback_at"]))
        order = lambda r: (-r["dispatched"], r["label"])  # noqa: E731
    else:
        key, label = {"grid": ("grid_id", "grid__code"), "worker": ("reporter_id", "reporter__display_name")}[by]
        month_cases = cases.filter(reported_at__gte=start, reported_at__lt=end)
        if by == "grid":  # a grid is shown as everywhere: its code and name
            month_cases = month_cases.annotate(grid_label=Concat("grid__code", Value(" "), "grid__name"))
            label = "grid_label"
        for c in month_cases.values(key, label, "registered_at", "dispatched_at", "state", "closed_at", "deadline_at",
                                    "rework_count", "return_count", "postponed", "satisfaction"):
            r = row(c[key], c[label])
            r["reported"] += 1
            r["registered"] += c["registered_at"] is not None
            r["dispatched"] += c["dispatched_at"] is not None
            if c["state"] == "closed":
                r["closed"] += 1
                r["closed_on_time"] += bool(c["closed_at"] and c["deadline_at"] and c["closed_at"] <= c["deadline_at"])
            r["reworked"] += c["rework_count"] > 0
            r["returned"] += c["return_count"] > 0
            r["postponed"] += bool(c["postponed"])
            if c["satisfaction"] is not None:
                r["sat"].append(c["satisfaction"])
        for e in CaseEvent.objects.filter(case__in=month_cases.values("pk"), action="verify").values(
                "created_at", "case__handled_at", "case__subdistrict_id", "case__" + key, "actor_id", "actor_name"):
            k = e["actor_id"] if by == "worker" else e["case__" + key]
            if k not in rows:
                row(k, e["actor_name"] if by == "worker" else "")
            r = rows[k]
            r["verified"] += 1
            if e["case__handled_at"]:
                hours = cal(e["case__subdistrict_id"]).working_hours_between(e["case__handled_at"], e["created_at"])
                r["verified_on_time"] += 0 <= hours <= VERIFY_HOURS
        order = lambda r: (-r["reported"], r["label"])  # noqa: E731

    def rate(a, b):
        return round(100.0 * a / b, 1) if b else None

    out = []
    for r in sorted(rows.values(), key=order):
        out.append({
            "key": r["key"], "label": r["label"], "reported": r["reported"], "registered": r["registered"],
            "dispatched": r["dispatched"], "co_handled": r["co_handled"], "closed": r["closed"],
            "on_time_close_rate": rate(r["closed_on_time"], r["closed"]),
            "rework_rate": rate(r["reworked"], r["dispatched"]), "return_rate": rate(r["returned"], r["dispatched"]),
            "postponement_rate": rate(r["postponed"], r["dispatched"]),
            "mean_handling_hours": round(sum(r["hours"]) / len(r["hours"]), 1) if r["hours"] else None,
            "verification_on_time_rate": rate(r["verified_on_time"], r["verified"]),
            "mean_satisfaction": round(sum(r["sat"]) / len(r["sat"]), 2) if r["sat"] else None,
        })
    return out


def check(t) -> bool:
    """What the leader is shown (the kept figures) against the per-row reference and the live computation; and
    every kept counter of the month against the live ones."""
    import datetime as dt

    from jiedao.cases.evaluation import evaluation, figures_live
    from jiedao.cases.evaluation.figures import figures_check

    ok = True
    for by in ("department", "grid", "worker"):
        t0 = time.perf_counter()
        ref = reference(user=t["leader"], month=t["month"], by=by)
        ref_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        live = [r.as_dict() for r in figures_live(user=t["leader"], month=t["month"], by=by)]
        live_s = time.perf_counter() - t0
        got = [r.as_dict() for r in evaluation(user=t["leader"], month=t["month"], by=by)]
        same = got == ref and got == live
        ok &= same
        log(f"  check by={by}: kept figures {'the same' if same else 'DIFFERENT'} as the reference and the live "
            f"computation ({len(ref)} rows; reference {ref_s:.1f} s, live {live_s * 1000:.0f} ms)")
        if not same:
            for a, b in zip(got, ref, strict=False):
                if a != b:
                    log(f"    got {a}\n    ref {b}")
                    break
            if len(got) != len(ref):
                log(f"    {len(got)} rows against {len(ref)}")
    y, m = (int(x) for x in t["month"].split("-"))
    t0 = time.perf_counter()
    problems = figures_check(months=[dt.date(y, m, 1)])
    log(f"  check of every kept counter of {t['month']} (evaluation_rebuild --check): "
        f"{'same as the live ones' if not problems else f'{len(problems)} DIFFERENT'} "
        f"({time.perf_counter() - t0:.1f} s)")
    for p in problems[:5]:
        log(f"    {p}")
    return ok and not problems


GOALS = {True: ("p50 < 300 ms (1M), 2M ≤ 1.2×", 300.0, 1.2), False: ("p50 < 200 ms (1M)", 200.0, None)}


def print_table(report: dict, sizes: list[int], shape: str) -> bool:
    """p50 and p90 over all timed requests, the best round's p50 (least disturbed by other load), ratios."""
    first = report[sizes[0]]
    last = report[sizes[-1]] if len(sizes) > 1 else None
    a, b = f"{sizes[0] / 1e6:g}M", f"{sizes[-1] / 1e6:g}M"
    print()
    print(f"machine: {_common.machine()}; {_common.backend_label()}; shape {shape}; month {first['targets']['month']} "
          f"({first['targets']['month_cases']:,} cases at {a}" +
          (f", {last['targets']['month_cases']:,} at {b})" if last else ")"))
    cols = [f"{a} p50", f"{a} p90", f"{a} best"] + ([f"{b} p50", f"{b} p90", f"{b} best", "ratio", "r.best"]
                                                  if last else [])
    head = f"{'endpoint':<34}" + "".join(f"{c:>9}" for c in cols) + f"  {'goal':<30}{'result':>6}"
    print(head)
    print("-" * len(head))
    all_ok = True
    for label, _url, _user, is_eval in endpoints(first["targets"]):
        r1 = first["results"][label]
        goal, limit, max_ratio = GOALS[is_eval]
        ok = r1["p50"] < limit
        vals = [r1["p50"], r1["p90"], r1["best_round"]]
        if last:
            r2 = last["results"][label]
            ratio = r2["p50"] / r1["p50"]
            if max_ratio:
                ok &= ratio <= max_ratio
            vals += [r2["p50"], r2["p90"], r2["best_round"], ratio, r2["best_round"] / r1["best_round"]]
        all_ok &= ok
        cells = "".join(f"{v:>9.1f}" if i < len(vals) - 2 or not last else f"{v:>9.2f}" for i, v in enumerate(vals))
        print(f"{label:<34}{cells}  {goal:<30}{'PASS' if ok else 'FAIL':>6}")
    print("(ms; in-process Django test client; PostgreSQL on 127.0.0.1; ratio = 2M p50 / 1M p50, r.best = the same "
          "for the best rounds; pass/fail on p50)")
    return all_ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,2000000")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--passes", type=int, default=4, help="rounds the timed requests are spread over")
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--db", default="", help="keep and reuse this database (not dropped)")
    ap.add_argument("--explain", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--shape", choices=("density", "history"), default="density",
                    help="density: every size spread over the same months (a month holds twice as many cases at "
                         "2M); history: each further size goes to the months before (a month holds as many)")
    ap.add_argument("--jobs", type=int, default=1, help="batches generated at the same time")
    ap.add_argument("--deadlines", action="store_true", help="also time check_deadlines() (the console's minute job)")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    name, throwaway = setup(args)
    build_world()
    log(f"database {name} ready ({time.perf_counter() - t0:.0f} s)")
    sizes = [int(s) for s in args.sizes.split(",")]
    report = {}
    for i, size in enumerate(sizes):
        g = generate(size, args.months, args.jobs, back_months=i * args.months if args.shape == "history" else 0)
        log(f"{size:,} cases: generated {g['made']:,} in {g['generate_s']:.0f} s, vacuum/analyze {g['vacuum_s']:.0f} s; "
            f"rows: {g['counts']['cases_case']:,} cases, {g['counts']['cases_caseassignment']:,} assignments, "
            f"{g['counts']['cases_caseevent']:,} events")
        g["rebuild_s"], g["rebuild_months"] = rebuild()
        log(f"  kept figures rebuilt from the rows (evaluation_rebuild): {g['rebuild_months']} months in "
            f"{g['rebuild_s']:.1f} s")
        if args.generate_only:
            continue
        t = targets(g["now"])
        log(f"  month {t['month']}: {t['month_cases']:,} cases reported; grid {t['grid_id']}: "
            f"{t['grid_dispatched']:,} dispatched cases; {args.runs} timed requests after 2 warm-ups; "
            f"load average {os.getloadavg()[0]:.2f}")
        report[size] = {"gen": g, "targets": t, "results": measure(t, args.runs, args.explain, args.passes)}
        if args.check:
            report[size]["checked"] = check(t)
        if args.deadlines and i == 0:
            d = deadline_check()
            report[size]["deadlines"] = d
            log(f"  check_deadlines(): {d['first'][0]:.1f} s the first time {d['first'][1]}, "
                f"{d['again'][0]:.1f} s again {d['again'][1]}")
    ok = print_table(report, sizes, args.shape) if report else True
    if report:
        print("kept figures rebuilt after each load: " + "; ".join(
            f"{size / 1e6:g}M: {r['gen']['rebuild_months']} months in {r['gen']['rebuild_s']:.1f} s"
            for size, r in report.items()))
    if args.check:
        checked = all(r["checked"] for r in report.values())
        print(f"--check: {'kept figures equal the reference and the live computation' if checked else 'DIFFERENCES'}")
        ok &= checked
    log(f"total {time.perf_counter() - t0:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
