"""Benchmark: case intake over HTTP (POST /api/v1/cases) beside a bare one-row insert, under gunicorn.

    .venv/bin/python bench/case_intake.py [--backends sqlite,postgres] [--duration 10] [--rounds 2]
        [--warmup 3] [--connections 8] [--workers 2] [--idempotency] [--profile] [--query-stats]
        [--sqlite-conn-max-age N]

For each backend (SQLite in a temporary directory; PostgreSQL in a throwaway database
``jiedao_bench_intake_<pid>`` on ``--pg-url``, dropped at the end) the script

1. writes a throwaway settings module and URLconf into a temporary directory on PYTHONPATH: the settings
   import ``jiedao.settings.base`` (DEBUG off, fresh keys, the production password hasher) and point
   ROOT_URLCONF at a module that serves ``jiedao.urls`` plus ``POST /api/bench/bare-insert`` — a plain Django
   view that authenticates the Bearer token with the API's own ``api_token_user`` and inserts one row into
   ``bench_bare_insert`` (created here; it is not part of the app). It sits under ``/api/`` only so that the
   login middleware hands bearer calls to the view, as it does for the API (which tries ``BearerAuth`` before
   ``SessionAuth``, so a bearer POST meets no CSRF check);
2. migrates, loads the demo (``load_demo --people 200``: grids, categories, users), runs ``ANALYZE`` (a running
   deployment has planner statistics; a database loaded a second ago has none) and starts ``gunicorn -w 2``
   (sync workers) on 127.0.0.1;
3. takes a bearer token for the demo grid worker from ``POST /api/v1/auth/token``;
4. drives both endpoints with ``wrk`` (Debian package; ``apt-get install wrk``) and a Lua script posting
   urlencoded forms (description, category_id, lat, lng) with random points in 31.318–31.346 N,
   121.488–121.527 E and one of 11 common event categories, so the duplicate check finds real neighbours:
   a warm-up of both, then bare and intake one after the other, ``--rounds`` times, in turned order every other
   round (bare, intake; intake, bare; …) — same server, same run; each run waits, at most 20 s, for ≥ 75 % idle
   CPU, as the machine may be shared;
5. prints requests/s, p50/p90/p99 and the ratio intake/bare (goal ≥ 0.5), then checks the database: every
   201 made one case, one report event and one audit record, and how many cases were flagged as possible
   duplicates;
6. prints the CPU time per answered request of each endpoint, read from /proc over the measured runs: the
   gunicorn workers, the database server's processes (PostgreSQL; SQLite runs inside the workers), wrk, and
   the whole machine. On a machine with few cores that is what the throughput ratio comes down to.

``--variant KEY=VALUE`` starts a second server on the same database with that environment and drives its intake
in turn with the first, in the same rounds (for example ``JIEDAO_PG_PREPARE=0``, or ``BENCH_EXTRA_RT=3``: three
more ``SELECT 1`` round trips per intake, which measures what a round trip costs under load); ``--variant-root DIR``
runs that second server from another checkout (``git worktree add DIR <commit>``) with the same migrations.
``--profile`` also samples both gunicorn workers with py-spy (``pip install py-spy``) during one extra
intake run and prints where the wall time goes (inclusive share of the key functions); ``--query-stats``
restarts the server with a statement recorder and prints, at one connection, the statements and database time
per request. Only 127.0.0.1 is contacted. About 1–2 minutes per backend. Results: bench/RESULTS-cases.md.
"""

from __future__ import annotations

import argparse
import base64
import collections
import copy
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import _common

ROOT = _common.ROOT
PY = sys.executable
AREA = (31.318, 31.346, 121.488, 121.527)  # lat min/max, lng min/max
COMMON = ["06010", "06001", "06002", "01037", "01001", "09001", "09002", "04001", "06030", "08001", "02001"]
DESCRIPTION = "人行道上有暴露垃圾，已堆放两天，影响通行"
USER, PASSWORD = "demo-grid-worker", "jiedao-demo"

SETTINGS = '''\
import os

from jiedao.settings.base import *  # noqa: F401,F403

ROOT_URLCONF = "bench_intake_urls"
if os.environ.get("BENCH_EXTRA_RT"):  # diagnostics: what one more round trip costs under load (decision 0012)
    MIDDLEWARE = ["bench_intake_urls.ExtraRoundTrips", *MIDDLEWARE]  # noqa: F405
if os.environ.get("BENCH_QUERY_STATS"):
    MIDDLEWARE = ["bench_intake_urls.QueryStats", *MIDDLEWARE]  # noqa: F405
if os.environ.get("BENCH_SQLITE_CONN_MAX_AGE") and DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ["BENCH_SQLITE_CONN_MAX_AGE"])  # noqa: F405
'''

URLS = '''\
"""jiedao.urls plus one bare view for the benchmark (not part of the app)."""

from django.db import connection, transaction
from django.http import JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from jiedao.kernel.auth import api_token_user


@csrf_exempt  # like the API's bearer calls: no cookie, no CSRF
@require_POST
def bare_insert(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    user = api_token_user(header[7:]) if header.startswith("Bearer ") else None
    if user is None:
        return JsonResponse({"code": "not_authenticated"}, status=401)
    post = request.POST
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("INSERT INTO bench_bare_insert (created_at, user_id, description, lat, lng) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    [timezone.now(), user.pk, post.get("description", ""), float(post["lat"]), float(post["lng"])])
    return JsonResponse({"ok": True}, status=201)


class ExtraRoundTrips:
    """Diagnostics (BENCH_EXTRA_RT=n, with --variant): n more round trips (SELECT 1) per intake."""

    def __init__(self, get_response):
        import os

        self.get_response = get_response
        self.n = int(os.environ.get("BENCH_EXTRA_RT", "0"))

    def __call__(self, request):
        if request.path == "/api/v1/cases":
            with connection.cursor() as cur:
                for _ in range(self.n):
                    cur.execute("SELECT 1")
        return self.get_response(request)


class QueryStats:
    """Diagnostics (BENCH_QUERY_STATS=dir): per request path, the SQL statements run and their wall time."""

    def __init__(self, get_response):
        import os

        self.get_response = get_response
        self.dir = os.environ.get("BENCH_QUERY_STATS", "")
        self.stats = {}
        self.n = 0

    def __call__(self, request):
        if not self.dir:
            return self.get_response(request)
        import json
        import os
        import time

        from django.db import connection

        seen = []

        def wrapper(execute, sql, params, many, context):
            t0 = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                seen.append((" ".join(sql.split())[:110], time.perf_counter() - t0))

        t0 = time.perf_counter()
        with connection.execute_wrapper(wrapper):
            response = self.get_response(request)
        total = time.perf_counter() - t0
        path = request.path
        s = self.stats.setdefault(path, {"requests": 0, "wall": 0.0, "queries": 0, "db": 0.0, "sql": {}})
        s["requests"] += 1
        s["wall"] += total
        s["queries"] += len(seen)
        for sql, secs in seen:
            s["db"] += secs
            row = s["sql"].setdefault(sql, [0, 0.0])
            row[0] += 1
            row[1] += secs
        self.n += 1
        if self.n % 20 == 0:
            with open(os.path.join(self.dir, f"q-{os.getpid()}.json"), "w") as f:
                json.dump(self.stats, f)
        return response


def plans(request):
    """Diagnostics: this worker's session, its prepared statements and how often each ran a generic or a custom
    plan (PostgreSQL's plan_cache_mode=auto picks per session after five runs)."""
    import os

    if connection.vendor != "postgresql":
        return JsonResponse({"worker": os.getpid(), "statements": []})
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid(), name, generic_plans, custom_plans, left(statement, 60) "
                    "FROM pg_prepared_statements ORDER BY name")
        rows = cur.fetchall()
    return JsonResponse({"worker": os.getpid(), "statements": rows})


urlpatterns = [path("api/bench/bare-insert", bare_insert), path("api/bench/plans", plans),
               path("", include("jiedao.urls"))]
'''

# Run with django.setup() in the prepared environment: make the bare table, list the category ids.
PREP = '''\
import json, django
django.setup()
from django.db import connection
from jiedao.cases.models import CaseCategory
pk = "bigserial PRIMARY KEY" if connection.vendor == "postgresql" else "integer PRIMARY KEY AUTOINCREMENT"
with connection.cursor() as cur:
    cur.execute(f"CREATE TABLE IF NOT EXISTS bench_bare_insert (id {pk}, created_at timestamp with time zone NOT NULL, "
                "user_id bigint NOT NULL, description text NOT NULL, lat double precision, lng double precision)")
    # The planner statistics a running deployment has (autovacuum keeps them): the demo was loaded a moment ago.
    cur.execute("ANALYZE")
ids = list(CaseCategory.objects.filter(kind="event", is_leaf=True, code__in=%r).values_list("id", flat=True))
print(json.dumps({"categories": ids}))
''' % (COMMON,)

STATS = '''\
import json, sys, django
django.setup()
from django.db import connection
from jiedao.cases.models import Case, CaseEvent
from jiedao.kernel.models import AuditRecord
# The demo has rows dated in the future: count what was added after a snapshot of the largest ids instead.
with connection.cursor() as cur:
    cur.execute("SELECT count(*) FROM bench_bare_insert")
    bare = cur.fetchone()[0]
top = {"case": Case.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
       "event": CaseEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
       "audit": AuditRecord.objects.order_by("-pk").values_list("pk", flat=True).first() or 0, "bare": bare}
if sys.argv[1] == "snapshot":
    print(json.dumps(top))
    raise SystemExit
snap = json.loads(sys.argv[1])
cases = Case.objects.filter(pk__gt=snap["case"])
print(json.dumps({
    "cases": cases.count(),
    "with_grid": cases.exclude(grid=None).count(),
    "flagged_duplicates": sum(1 for d in cases.values_list("duplicate_candidates", flat=True) if d),
    "report_events": CaseEvent.objects.filter(pk__gt=snap["event"], action="report").count(),
    "audit_records": AuditRecord.objects.filter(pk__gt=snap["audit"], action="case.report").count(),
    "bare_rows": bare - snap["bare"],
}))
'''

LUA = r'''
-- wrk script: POST a urlencoded case form with a random point and category (one of CATS).
local cats = {%(cats)s}
local token = "%(token)s"
local desc = "%(desc)s"
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  math.randomseed(%(seed)d + tid * 7919)
  ok, bad, last_bad = 0, 0, 0
  headers = {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = "Bearer " .. token}
  %(extra_init)s
end

function request()
  local lat = %(lat0)f + math.random() * %(dlat)f
  local lng = %(lng0)f + math.random() * %(dlng)f
  local body = string.format("description=%%s&category_id=%%d&lat=%%.6f&lng=%%.6f", desc, cats[math.random(#cats)],
                             lat, lng)
  %(extra_request)s
  return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, body)
  if status == 201 then ok = ok + 1 else bad = bad + 1; last_bad = status end
end

function done(summary, latency, requests)
  local okn, badn, last = 0, 0, 0
  for _, t in ipairs(threads) do
    okn = okn + t:get("ok"); badn = badn + t:get("bad")
    if t:get("last_bad") ~= 0 then last = t:get("last_bad") end
  end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, ' ..
    '"p99_us": %%d, "max_us": %%d, "mean_us": %%.1f, "ok": %%d, "bad": %%d, "last_bad": %%d, "connect": %%d, ' ..
    '"read": %%d, "write": %%d, "timeout": %%d}\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    okn, badn, last, e.connect, e.read, e.write, e.timeout))
end
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process so far, 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _reaped_cpu(pids: list[int]) -> float:
    """CPU seconds of the PostgreSQL processes that have exited, whole lives: the postmaster (the one whose parent
    is no postgres process) collects each child's time when it reaps it (cutime + cstime)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) not in pids:
            total += (int(fields[13]) + int(fields[14])) / _TICK
    return total


def _postgres_pids() -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == "postgres":
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def _machine_busy() -> tuple[float, float]:
    """Busy CPU seconds of the whole machine so far (all but idle and iowait), and of those the time stolen by the
    hypervisor (a shared VM's neighbours)."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _TICK, values[7] / _TICK


def _wal_bytes(backend) -> int:
    """The PostgreSQL server's WAL position in bytes (0 for SQLite): WAL per request tells full-page images, which
    follow every checkpoint, from steady-state writes."""
    if backend.kind != "postgres":
        return 0
    import psycopg

    with psycopg.connect(backend.args.pg_url, autocommit=True) as conn:
        return int(conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()[0])


class CpuMeter:
    """CPU seconds spent by the app's workers, the database's processes, the load generator and the machine."""

    def __init__(self, backend: Backend):
        self.backend = backend

    def __enter__(self):
        self.app = {pid: _proc_cpu(pid) for pid in self.backend.worker_pids()}
        pids = _postgres_pids() if self.backend.kind == "postgres" else []
        self.db = {pid: _proc_cpu(pid) for pid in pids}
        self.reaped = _reaped_cpu(pids)
        self.children = os.times().children_user + os.times().children_system
        self.wal = _wal_bytes(self.backend)
        self.machine, self.steal = _machine_busy()
        return self

    def _db_cpu(self) -> float:
        # A backend that started during the run counts whole; one that exited during it (connections are closed
        # after CONN_MAX_AGE) counts from the postmaster's reaped time, less what it had before the run.
        pids = _postgres_pids()
        live = sum(_proc_cpu(pid) - self.db.get(pid, 0.0) for pid in pids)
        gone = sum(t for pid, t in self.db.items() if pid not in pids)
        return live + _reaped_cpu(pids) - self.reaped - gone

    def __exit__(self, *exc):
        machine, steal = _machine_busy()
        self.result = {
            "app": sum(_proc_cpu(pid) - t for pid, t in self.app.items()),
            "db": self._db_cpu() if self.db else 0.0,
            "wrk": os.times().children_user + os.times().children_system - self.children,
            "machine": machine - self.machine,
            "steal": steal - self.steal,
            "wal_kb": (_wal_bytes(self.backend) - self.wal) / 1000,  # per request below: KB, as the rest is ms
        }


def run(cmd, env, **kw) -> str:
    p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, **kw)
    if p.returncode:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"failed: {' '.join(map(str, cmd))}")
    return p.stdout


def http(method: str, url: str, data: bytes | None = None, headers: dict | None = None, timeout=30):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback only)
        return resp.status, resp.read()


class Backend:
    """A prepared database, the server's environment, and the running gunicorn."""

    def __init__(self, kind: str, args, tmp: Path):
        self.kind, self.args, self.tmp = kind, args, tmp
        self.dbname = None
        self.proc = None
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JIEDAO_", "DATABASE_URL"))}
        env.update({
            "PYTHONPATH": f"{tmp}{os.pathsep}{ROOT}",
            "DJANGO_SETTINGS_MODULE": "bench_intake_settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
            "DJANGO_SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback (production terminates TLS in nginx)
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "JIEDAO_PII_KEYS": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
            "JIEDAO_BLIND_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "JIEDAO_AUDIT_KEY": secrets.token_urlsafe(32),
            "JIEDAO_VAR_DIR": str(tmp / kind),
            "JIEDAO_MEDIA_ROOT": str(tmp / kind / "media"),
            "JIEDAO_LOG_LEVEL": "WARNING",
            "JIEDAO_DEMO_PASSWORD": PASSWORD,
        })
        if args.sqlite_conn_max_age is not None:
            env["BENCH_SQLITE_CONN_MAX_AGE"] = str(args.sqlite_conn_max_age)
        (tmp / kind).mkdir(parents=True, exist_ok=True)
        if kind == "postgres":
            self.dbname = f"jiedao_bench_intake_{os.getpid()}"
            self._admin(f'DROP DATABASE IF EXISTS "{self.dbname}"', f'CREATE DATABASE "{self.dbname}"')
            parts = urllib.parse.urlsplit(args.pg_url)
            env["DATABASE_URL"] = urllib.parse.urlunsplit(parts._replace(path=f"/{self.dbname}"))
        else:
            env["JIEDAO_SQLITE_PATH"] = str(tmp / kind / "bench.sqlite3")
        self.env = env
        self.base = f"http://127.0.0.1:{self.port}"

    def _admin(self, *statements):
        import psycopg

        with psycopg.connect(self.args.pg_url, autocommit=True) as conn:
            for s in statements:
                conn.execute(s)

    def prepare(self) -> dict:
        manage = [PY, str(ROOT / "manage.py")]
        run([*manage, "migrate", "--noinput", "-v0"], self.env)
        run([*manage, "load_demo", "--people", str(self.args.people)], {**self.env, "DJANGO_DEBUG": "1"})
        return json.loads(run([PY, "-c", PREP], self.env).strip().splitlines()[-1])

    def version(self) -> str:
        code = ("import django; django.setup(); import sys; sys.path.insert(0, 'bench'); import _common; "
                "print(_common.backend_label())")
        return run([PY, "-c", code], self.env).strip().splitlines()[-1]

    def start(self, **extra_env):
        log = open(self.tmp / f"gunicorn-{self.kind}.log", "a")  # noqa: SIM115 (closed with the process)
        cmd = [str(Path(PY).parent / "gunicorn"), "jiedao.wsgi", "-w", str(self.args.workers), "-k", "sync",
               "-b", f"127.0.0.1:{self.port}", "--timeout", "60", "--error-logfile", "-"]
        root = getattr(self, "root", ROOT)  # a --variant-root server runs another checkout's code
        env = {**self.env, "PYTHONPATH": f"{self.tmp}{os.pathsep}{root}", **extra_env}
        self.proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {log.name}")
            try:
                if http("GET", self.base + "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                time.sleep(0.3)
        raise SystemExit("gunicorn did not answer /healthz within 60 s")

    def settle(self):
        """Write out what earlier runs left in memory (PostgreSQL's dirty buffers, the kernel's dirty pages), so the
        next run does not pay for the writes of the one before it."""
        if self.dbname:
            self._admin("CHECKPOINT")
        os.sync()

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [int(x) for x in out.stdout.split()]

    def token(self) -> str:
        body = json.dumps({"username": USER, "password": PASSWORD}).encode()
        status, raw = http("POST", self.base + "/api/v1/auth/token", body, {"Content-Type": "application/json"})
        return json.loads(raw)["token"]

    def stats(self, snapshot: str) -> dict:
        return json.loads(run([PY, "-c", STATS, snapshot], self.env).strip().splitlines()[-1])

    def stop_server(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own gunicorn's process group (master + workers)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def stop(self):
        self.stop_server()
        if self.dbname:
            from contextlib import suppress

            with suppress(Exception):
                self._admin(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')


def write_lua(tmp: Path, cats: list[int], token: str, seed: int, idempotency: bool) -> Path:
    extra_init = "n = 0" if idempotency else ""
    extra_request = ('n = n + 1; headers["Idempotency-Key"] = string.format("bench-%d-%d-%d", tid, n, os.time())'
                     if idempotency else "")
    text = LUA % {
        "cats": ", ".join(map(str, cats)), "token": token, "desc": urllib.parse.quote(DESCRIPTION), "seed": seed,
        "lat0": AREA[0], "dlat": AREA[1] - AREA[0], "lng0": AREA[2], "dlng": AREA[3] - AREA[2],
        "extra_init": extra_init, "extra_request": extra_request,
    }
    path = tmp / f"post-{seed}.lua"
    path.write_text(text)
    return path


# The orders of the runs in successive rounds, by number of endpoints: each endpoint in each place equally often.
ORDERS = {2: [(0, 1), (1, 0)], 3: [(0, 1, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0), (0, 2, 1), (1, 0, 2)]}

TALLY: collections.Counter = collections.Counter()  # 201 answers per path, every run included


def wrk(base: str, path: str, lua: Path, seconds: float, connections: int, threads: int, backend=None) -> dict:
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout", "30s",
           "-s", str(lua), base, "--", path]
    meter = CpuMeter(backend) if backend else None
    if meter:
        meter.__enter__()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    if meter:
        meter.__exit__(None, None, None)
    m = re.search(r"WRKJSON (\{.*\})", out.stdout)
    if not m:
        raise SystemExit(f"wrk failed:\n{out.stdout}\n{out.stderr}")
    r = json.loads(m.group(1))
    r["rps"] = r["ok"] / (r["duration_us"] / 1e6)
    r["cpu"] = meter.result if meter else {}
    TALLY[path] += r["ok"]
    return r


def _advisory_line() -> str:
    """The line of jiedao/kernel/audit.py that takes the PostgreSQL advisory lock (found, not hard-coded)."""
    for i, line in enumerate((ROOT / "jiedao/kernel/audit.py").read_text().splitlines(), start=1):
        if "pg_advisory_xact_lock" in line and "execute" in line:
            return f"audit_record (jiedao/kernel/audit.py:{i})"
    return "pg_advisory_xact_lock"


KEY_FUNCTIONS = [
    # (label, substring of a py-spy frame "qualified.function (path:line)")
    ("auth: api_token_user (both endpoints)", "api_token_user (jiedao/kernel/auth.py"),
    ("case_create (the API view)", "case_create (jiedao/cases/api.py"),
    ("  category_get_visible (+ first user_scope)", "category_get_visible (jiedao/cases/selectors.py"),
    ("  case_report (the service)", "case_report (jiedao/cases/services/intake.py"),
    ("    grid_for_point", "grid_for_point (jiedao/places/geo.py"),
    ("    _nearest_address (2 queries)", "_nearest_address (jiedao/cases/services/intake.py"),
    ("    compute_deadline (CalendarDay query)", "compute_deadline (jiedao/cases/services/intake.py"),
    ("    duplicate_candidates", "duplicate_candidates (jiedao/cases/services/intake.py"),
    ("    Model.save (case, event, audit)", "Model.save_base (django/db/models/base.py"),
    ("    audit_record", "audit_record (jiedao/kernel/audit.py"),
    ("      _actor_fields (membership query)", "_actor_fields (jiedao/kernel/audit.py"),
    ("      advisory lock wait (PostgreSQL)", "@advisory"),
    ("user_scope computed", "_compute_scope (jiedao/kernel/scoping.py"),
    ("BEGIN IMMEDIATE (SQLite write-lock wait)", "_start_transaction_under_autocommit (django/db/backends/sqlite3"),
    ("COMMIT", "BaseDatabaseWrapper.commit (django/db/backends/base/base.py"),
    ("all SQL statements (CursorWrapper.execute)", "CursorWrapper.execute (django/db/backends/utils.py"),
    ("connection close at request end", "close_old_connections (django/db/__init__.py"),
    ("response serialisation (ninja)", "Operation._result_to_response (ninja/operation.py"),
]


def profile(backend: Backend, lua: Path, args) -> list[tuple[str, float]]:
    """py-spy both workers (wall clock, idle included) during one intake run; inclusive share per function."""
    spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    outs, procs = [], []
    seconds = max(5, int(args.duration))
    for pid in backend.worker_pids():
        out = backend.tmp / f"spy-{backend.kind}-{pid}.txt"
        outs.append(out)
        procs.append(subprocess.Popen([spy, "record", "--pid", str(pid), "--idle", "--rate", "200", "--format", "raw",
                                       "--duration", str(seconds + 1), "--output", str(out), "--nonblocking"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(0.5)
    wrk(backend.base, "/api/v1/cases", lua, seconds, args.connections, args.threads)
    for p in procs:
        p.wait(timeout=seconds + 60)
    counts: collections.Counter = collections.Counter()
    total = busy = 0
    advisory = _advisory_line()
    for out in outs:
        if not out.exists():
            continue
        for line in out.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not n.isdigit():
                continue
            n = int(n)
            total += n
            if "WSGIHandler.__call__" in stack:
                busy += n
            for label, needle in KEY_FUNCTIONS:
                if (advisory in stack) if needle == "@advisory" else (needle in stack):
                    counts[label] += n
    if not total:
        return []
    rows = [("samples (wall clock, all workers)", float(total)), ("workers busy in a request", 100.0 * busy / total)]
    rows += [(label, 100.0 * counts[label] / busy if busy else 0.0) for label, _ in KEY_FUNCTIONS]
    return rows


def query_stats(backend: Backend, lua: Path, args) -> dict:
    """Restart the server with the statement recorder; one connection, a few seconds per endpoint."""
    backend.stop_server()
    qdir = backend.tmp / f"q-{backend.kind}"
    qdir.mkdir(exist_ok=True)
    backend.start(BENCH_QUERY_STATS=str(qdir))
    for path in ("/api/bench/bare-insert", "/api/v1/cases"):
        wrk(backend.base, path, lua, 1, 1, 1)  # warm both workers
    for f in qdir.glob("*.json"):
        f.unlink()
    for path in ("/api/bench/bare-insert", "/api/v1/cases"):
        wrk(backend.base, path, lua, args.query_seconds, 1, 1)
    backend.stop_server()
    merged: dict = {}
    for f in qdir.glob("*.json"):
        for path, s in json.loads(f.read_text()).items():
            m = merged.setdefault(path, {"requests": 0, "wall": 0.0, "queries": 0, "db": 0.0, "sql": {}})
            for k in ("requests", "wall", "queries", "db"):
                m[k] += s[k]
            for sql, (n, secs) in s["sql"].items():
                row = m["sql"].setdefault(sql, [0, 0.0])
                row[0] += n
                row[1] += secs
    return merged


def bench_backend(kind: str, args, tmp: Path) -> dict:
    t0 = time.perf_counter()
    b = Backend(kind, args, tmp)
    try:
        prep = b.prepare()
        label = b.version()
        b.start()
        token = b.token()
        setup_s = time.perf_counter() - t0
        lua = write_lua(tmp, prep["categories"], token, args.seed, args.idempotency)
        snapshot = run([PY, "-c", STATS, "snapshot"], b.env).strip().splitlines()[-1]
        TALLY.clear()
        for path in ("/api/bench/bare-insert", "/api/v1/cases"):
            wrk(b.base, path, lua, args.warmup, args.connections, args.threads)
        runs = {"bare": [], "intake": []}
        variant = None
        if args.variant or args.variant_root:
            # A second server on the same database with other settings, driven in turn with the first (same run).
            variant = copy.copy(b)
            variant.port = free_port()
            variant.base = f"http://127.0.0.1:{variant.port}"
            if args.variant_root:
                variant.root = Path(args.variant_root).resolve()
            variant.start(**dict(kv.split("=", 1) for kv in args.variant))
            wrk(variant.base, "/api/v1/cases", lua, args.warmup, args.connections, args.threads)
            runs["variant"] = []
        idle = []
        order = [("bare", b, "/api/bench/bare-insert"), ("intake", b, "/api/v1/cases")]
        if variant:
            order.append(("variant", variant, "/api/v1/cases"))
        for n in range(args.rounds):
            # Every run starts on a quiet machine, and each endpoint takes each place in the order equally often
            # (two: bare, intake; intake, bare. Three: six orders, each place twice): a run that always followed
            # another measured the tail of that one too — the same intake measured 17 % slower right after the bare
            # insert than after another intake run, and a variant always run first or last 20 % faster than the
            # same code in the middle.
            for name, server, path in [order[i] for i in ORDERS[len(order)][n % len(ORDERS[len(order)])]]:
                if args.settle:
                    b.settle()
                idle.append(_common.wait_for_quiet())
                runs[name].append(wrk(server.base, path, lua, args.duration, args.connections, args.threads,
                                      backend=server))
        if variant:
            variant.stop_server()
        prof = profile(b, lua, args) if args.profile else []
        stats = b.stats(snapshot)
        stats["answers_201"] = dict(TALLY)
        queries = query_stats(b, lua, args) if args.query_stats else {}
        return {"kind": kind, "label": label, "setup_s": setup_s, "runs": runs, "stats": stats, "profile": prof,
                "queries": queries, "idle": idle,
                "categories": len(prep["categories"])}
    finally:
        b.stop()


def summarise(runs: list[dict]) -> dict:
    """All rounds of one endpoint: summed requests over summed time; the median round's percentiles."""
    ok = sum(r["ok"] for r in runs)
    secs = sum(r["duration_us"] for r in runs) / 1e6
    mid = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    cpu = {k: 1000 * sum(r["cpu"].get(k, 0.0) for r in runs) / max(ok, 1)
           for k in ("app", "db", "wrk", "machine", "steal", "wal_kb")}
    cpu["wal_kb"] /= 1000
    per_run = [(r["rps"], 1000 * r["cpu"].get("db", 0.0) / max(r["ok"], 1), r["cpu"].get("wal_kb", 0.0) / max(r["ok"], 1))
               for r in runs]
    return {"cpu_ms": cpu, "per_run": per_run, "rps": ok / secs, "ok": ok, "bad": sum(r["bad"] for r in runs), "p50": mid["p50_us"] / 1000,
            "p90": mid["p90_us"] / 1000, "p99": mid["p99_us"] / 1000,
            "errors": sum(r["connect"] + r["read"] + r["write"] + r["timeout"] for r in runs),
            "last_bad": max(r["last_bad"] for r in runs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--duration", type=float, default=10, help="seconds per measured run")
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    ap.add_argument("--rounds", type=int, default=2, help="bare/intake pairs per backend, alternating")
    ap.add_argument("--people", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--idempotency", action="store_true", help="send an Idempotency-Key with each request")
    ap.add_argument("--profile", action="store_true", help="py-spy the workers during an extra intake run")
    ap.add_argument("--sqlite-conn-max-age", type=int, default=None,
                    help="CONN_MAX_AGE for SQLite (the app's default is 0: a new connection per request)")
    ap.add_argument("--query-stats", action="store_true",
                    help="afterwards, record every SQL statement per request (1 connection, --query-seconds each)")
    ap.add_argument("--query-seconds", type=float, default=5)
    ap.add_argument("--top-sql", type=int, default=20)
    ap.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE",
                    help="also drive the intake on a second server with this environment (e.g. JIEDAO_PG_PREPARE=0), "
                         "in turn with the first; repeat for several variables")
    ap.add_argument("--variant-root", metavar="DIR",
                    help="the second server runs the code of this checkout (e.g. a `git worktree` of the previous "
                         "commit), on the same database; its migrations must match")
    ap.add_argument("--settle", action="store_true",
                    help="before each run: CHECKPOINT (PostgreSQL) and sync, so no run pays for the writes of the last")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory (logs, py-spy output)")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    if urllib.parse.urlsplit(args.pg_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        print("--pg-url must point at the loopback", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="jiedao-bench-intake-"))
    (tmp / "bench_intake_settings.py").write_text(SETTINGS)
    (tmp / "bench_intake_urls.py").write_text(URLS)
    results = []
    try:
        for kind in args.backends.split(","):
            print(f"[{kind}] preparing (migrate, load_demo --people {args.people}), starting gunicorn …", flush=True)
            results.append(bench_backend(kind.strip(), args, tmp))
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")

    print()
    print(f"machine: {_common.machine()}; gunicorn {args.workers} sync workers; wrk {args.threads} threads, "
          f"{args.connections} connections, {args.duration:g} s per run × {args.rounds} round(s) after "
          f"{args.warmup:g} s warm-up; user {USER}; " + ("with" if args.idempotency else "no") + " Idempotency-Key")
    print()
    head = f"{'backend':<18}{'endpoint':<26}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'non-201':>9}{'ratio':>8}"
    print(head)
    print("-" * len(head))
    verdict = 0
    for r in results:
        bare, intake = summarise(r["runs"]["bare"]), summarise(r["runs"]["intake"])
        ratio = intake["rps"] / bare["rps"] if bare["rps"] else 0.0
        for name, s, extra in (("bare insert (1 row)", bare, ""), ("POST /api/v1/cases", intake, f"{ratio:.2f}")):
            print(f"{r['label']:<18}{name:<26}{s['rps']:>9.1f}{s['p50']:>9.1f}{s['p90']:>9.1f}{s['p99']:>9.1f}"
                  f"{s['bad'] + s['errors']:>9}{extra:>8}")
        ok = ratio >= 0.5
        verdict |= not ok
        st = r["stats"]
        print(f"{'':<18}ratio intake/bare = {ratio:.2f} → goal ≥ 0.5: {'PASS' if ok else 'FAIL'}; "
              f"set-up {r['setup_s']:.0f} s; CPU idle before each run: {', '.join(f'{x:.0%}' for x in r['idle'])}")
        sent = st["answers_201"]
        # A request still in flight when wrk stops is completed by the server but not counted by wrk.
        slack = args.connections * (2 + 2 * args.rounds + args.profile + (1 + args.rounds if args.variant or args.variant_root else 0))
        consistent = (st["cases"] == st["report_events"] == st["audit_records"]
                      and 0 <= st["cases"] - sent.get("/api/v1/cases", 0) <= slack
                      and 0 <= st["bare_rows"] - sent.get("/api/bench/bare-insert", 0) <= slack)
        verdict |= not consistent
        print(f"{'':<18}check {'OK' if consistent else 'MISMATCH'}: {sent.get('/api/v1/cases', 0)} + "
              f"{sent.get('/api/bench/bare-insert', 0)} answers 201 (all runs) → {st['cases']} cases ({st['with_grid']} in a grid, {st['flagged_duplicates']} flagged "
              f"as possible duplicates), {st['report_events']} report events, {st['audit_records']} audit records, "
              f"{st['bare_rows']} bare rows")
        if "variant" in r["runs"]:
            v = summarise(r["runs"]["variant"])
            vratio = v["rps"] / bare["rps"] if bare["rps"] else 0.0
            name = "intake " + " ".join(args.variant + ([f"@{Path(args.variant_root).name}"] if args.variant_root else []))
            print(f"{'':<18}{name:<26}{v['rps']:>9.1f}{v['p50']:>9.1f}{v['p90']:>9.1f}{v['p99']:>9.1f}"
                  f"{v['bad'] + v['errors']:>9}{vratio:>8.2f}  (variant, not the verdict)")
        for name, x in (("bare insert", bare), ("intake", intake)) + ((("variant", v),) if "variant" in r["runs"] else ()):
            c = x["cpu_ms"]
            print(f"{'':<18}CPU ms per request, {name + ':':<13} workers {c['app']:.2f}, database {c['db']:.2f}, "
                  f"wrk {c['wrk']:.2f}, whole machine {c['machine']:.2f} (stolen {c['steal']:.2f})"
                  + (f"; WAL {c['wal_kb']:.1f} KB" if c["wal_kb"] else ""))
            if c["wal_kb"]:
                print(f"{'':<18}  each run (req/s, database ms, WAL KB per request): "
                      + ", ".join(f"{rps:.0f}/{db:.2f}/{wal:.1f}" for rps, db, wal in x["per_run"]))
        if bare["bad"] or intake["bad"]:
            print(f"{'':<18}non-201 answers, e.g. HTTP {max(bare['last_bad'], intake['last_bad'])}")
        for path, q in sorted(r["queries"].items()):
            n = q["requests"]
            if not n:
                continue
            print(f"{'':<18}statements, 1 connection, {path}: {n} requests, {q['queries'] / n:.1f} statements and "
                  f"{1000 * q['db'] / n:.2f} ms in the database of {1000 * q['wall'] / n:.2f} ms per request")
            if path == "/api/v1/cases":
                shapes = collections.defaultdict(lambda: [0, 0.0])
                for sql, (count, secs) in q["sql"].items():
                    key = re.sub(r'"s\d+_x\d+"', '"…"', sql)  # one line for all savepoint names
                    shapes[key][0] += count
                    shapes[key][1] += secs
                for sql, (count, secs) in sorted(shapes.items(), key=lambda kv: -kv[1][1])[:args.top_sql]:
                    print(f"{'':<20}{count / n:>4.1f}× {1000 * secs / n:>6.2f} ms  {sql[:100]}")
        if r["profile"]:
            print(f"{'':<18}py-spy, share of the workers' request time (inclusive, wall clock):")
            for label, value in r["profile"]:
                unit = "" if label.startswith("samples") else " %"
                print(f"{'':<20}{label:<44}{value:>8.1f}{unit}")
        print()
    return verdict


if __name__ == "__main__":
    sys.exit(main())
