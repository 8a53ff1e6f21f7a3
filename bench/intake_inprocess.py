"""Diagnostic: the Python CPU of one case intake and of one bare insert, in one process, blocks interleaved.

    .venv/bin/python bench/intake_inprocess.py [--backend postgres|sqlite] [--blocks 30] [--block 40]
        [--patch MODULE]

``bench/case_intake.py`` gives the verdict (gunicorn, wrk, the throughput ratio), but its ratio moves by ±0.02
between runs on a shared 2-CPU machine, too much to judge a change worth 0.1 ms. This script answers the smaller
question precisely: it prepares the same database as case_intake.py (demo data, the bare table, ``ANALYZE``), then
in one Python process calls Django's WSGI handler directly (no HTTP server, no load generator) with the same
requests, Bearer token included, and measures ``time.process_time()`` — the process's own CPU, the database's
not counted — and, on PostgreSQL, the backend's CPU (from ``/proc``, means) and the WAL written per request
over alternating blocks of ``--block`` requests: bare, intake, bare, intake, … Medians of the
blocks; an A/A run differs by < 0.01 ms.

``--patch MODULE`` (a module on ``PYTHONPATH`` with ``enable()`` and ``disable()``, which monkeypatch the app)
alternates intake blocks with the patch off (A) and on (B) instead, to measure what one part of the intake costs
or what a change would save before it is written properly. Example patch, "what does one more message cost"::

    import jiedao.cases.api as api
    from jiedao.kernel.rows import Batch
    real, on = api.case_report, [False]
    def wrapped(**kw):
        if on[0]:
            b = Batch(); b.add("SELECT 1", (), lambda rows: None); b.run()
        return real(**kw)
    api.case_report = wrapped
    def enable(): on[0] = True
    def disable(): on[0] = False

Results: docs/performance.md (intake section).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import case_intake as ci

LOOP = r'''
import io, json, os, random, secrets, statistics, sys, time
from jiedao.wsgi import application as app  # what gunicorn serves, with its garbage-collector set-up
from django.conf import settings
from django.utils import timezone
from jiedao.kernel.models import ApiToken, User

args = json.loads(sys.argv[1])
user = User.objects.get(username=args["user"])
raw = secrets.token_urlsafe(32)
ApiToken.objects.create(user=user, digest=ApiToken.digest_of(raw),
                        expires_at=timezone.now() + settings.API_TOKEN_LIFETIME)
rnd = random.Random(args["seed"])
desc = args["description"]
area = args["area"]


def call(path):
    lat = area[0] + rnd.random() * (area[1] - area[0])
    lng = area[2] + rnd.random() * (area[3] - area[2])
    body = f"description={desc}&category_id={rnd.choice(args['categories'])}&lat={lat:.6f}&lng={lng:.6f}".encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http", "CONTENT_TYPE": "application/x-www-form-urlencoded",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
               "HTTP_AUTHORIZATION": "Bearer " + raw, "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1"}
    status = []
    response = app(environ, lambda s, h: status.append(s))
    b"".join(response)
    response.close()
    if not status[0].startswith("201"):
        raise SystemExit(f"{path} answered {status[0]}")


patch = None
if args["patch"]:
    import importlib
    patch = importlib.import_module(args["patch"])
    patch.disable()
BARE, INTAKE = "/api/bench/bare-insert", "/api/v1/cases"
for _ in range(100):
    call(BARE)
    call(INTAKE)
if patch:
    patch.enable()
    for _ in range(20):
        call(INTAKE)
from django.db import connection
connection.ensure_connection()
SERVER_STAT = f"/proc/{connection.connection.info.backend_pid}/stat"
TICK = os.sysconf("SC_CLK_TCK")


def server_cpu():
    """The PostgreSQL backend's CPU seconds (it runs on this machine), or 0 for SQLite."""
    if connection.vendor != "postgresql":
        return 0.0
    with open(SERVER_STAT) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wal_lsn():
    """The server's WAL position (bytes written since it was created), or 0 for SQLite."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        return int(cur.fetchone()[0])


a, b, sa, sb, wa, wb = [], [], [], [], [], []
for i in range(args["blocks"]):
    order = ((a, "A"), (b, "B")) if i % 2 == 0 else ((b, "B"), (a, "A"))
    for (acc, which), sacc, wacc in zip(order, *(((sa, sb), (wa, wb)) if order[0][1] == "A" else ((sb, sa), (wb, wa)))):
        if patch:
            patch.enable() if which == "B" else patch.disable()
            path = INTAKE
        else:
            path = BARE if which == "A" else INTAKE
        w0 = wal_lsn()
        t0, s0 = time.process_time(), server_cpu()
        for _ in range(args["block"]):
            call(path)
        acc.append(1000 * (time.process_time() - t0) / args["block"])
        sacc.append(1000 * (server_cpu() - s0) / args["block"])
        wacc.append((wal_lsn() - w0) / args["block"])
print(json.dumps({"a": statistics.median(a), "b": statistics.median(b),
                  "sa": statistics.mean(sa), "sb": statistics.mean(sb), "wa": statistics.mean(wa), "wb": statistics.mean(wb),
                  "a_p25": sorted(a)[len(a) // 4], "b_p25": sorted(b)[len(b) // 4]}))
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--blocks", type=int, default=30, help="blocks of each kind")
    ap.add_argument("--block", type=int, default=40, help="requests per block")
    ap.add_argument("--patch", default="", help="module with enable()/disable(): A/B of the intake instead")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--people", type=int, default=200)
    ap.add_argument("--pg-url", default=ci.os.environ.get("BENCH_PG_URL",
                                                          "postgres://postgres@127.0.0.1:5432/postgres"))
    args = ap.parse_args()
    args.sqlite_conn_max_age = None  # what case_intake.Backend reads
    tmp = Path(tempfile.mkdtemp(prefix="jiedao-bench-inprocess-"))
    (tmp / "bench_intake_settings.py").write_text(ci.SETTINGS)
    (tmp / "bench_intake_urls.py").write_text(ci.URLS)
    backend = ci.Backend(args.backend, args, tmp)
    try:
        print(f"[{args.backend}] preparing (migrate, load_demo --people {args.people}) …", flush=True)
        prep = backend.prepare()
        env = dict(backend.env)
        if args.patch:  # the patch module is found where the caller would find it
            env["PYTHONPATH"] = ci.os.pathsep.join(
                p for p in (env["PYTHONPATH"], ci.os.environ.get("PYTHONPATH", ""), ci.os.getcwd()) if p)
        loop_args = {"user": ci.USER, "seed": args.seed, "categories": prep["categories"], "area": ci.AREA,
                     "description": ci.urllib.parse.quote(ci.DESCRIPTION), "blocks": args.blocks,
                     "block": args.block, "patch": args.patch}
        out = subprocess.run([ci.PY, "-c", LOOP, json.dumps(loop_args)], env=env, cwd=ci.ROOT, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
    except subprocess.CalledProcessError as exc:
        print(exc.stderr[-3000:], file=sys.stderr)
        return 1
    finally:
        backend.stop()  # drops the throwaway PostgreSQL database
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine: {ci._common.machine()}; backend {args.backend}; {args.blocks} × {args.block} requests of each, "
          "interleaved; CPU of this process per request (process_time), medians of the blocks")
    if args.patch:
        print(f"intake, {args.patch} off   {r['a']:.3f} ms (p25 {r['a_p25']:.3f}); database {r['sa']:.3f} ms, WAL {r['wa']:,.0f} B")
        print(f"intake, {args.patch} on    {r['b']:.3f} ms (p25 {r['b_p25']:.3f}); database {r['sb']:.3f} ms, WAL {r['wb']:,.0f} B")
        print(f"difference               {r['b'] - r['a']:+.3f} ms; database {r['sb'] - r['sa']:+.3f} ms")
    else:
        print(f"bare insert   {r['a']:.3f} ms (p25 {r['a_p25']:.3f}); database {r['sa']:.3f} ms, WAL {r['wa']:,.0f} B")
        print(f"intake        {r['b']:.3f} ms (p25 {r['b_p25']:.3f}); database {r['sb']:.3f} ms, WAL {r['wb']:,.0f} B")
        print(f"CPU ratio bare/intake = {r['a'] / r['b']:.2f} (the throughput ratio's Python part; the database's "
              "CPU and the round trips are not in it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
