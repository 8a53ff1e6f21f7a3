"""Shared set-up of the benchmarks: Django on a throwaway database, the demo world, a timer.

SQLite by default: a fresh file in a temporary directory (``JIEDAO_SQLITE_PATH``).
With ``DATABASE_URL`` set to a PostgreSQL database, a throwaway database named
``<that database>_bench_<pid>`` is created next to it (the user needs CREATEDB)
and dropped at the end, so a run never touches existing data.
"""

from __future__ import annotations

import atexit
import os
import platform
import random
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _throwaway_postgres(url: str) -> str:
    import psycopg

    parts = urlsplit(url)
    base = parts.path.lstrip("/") or "postgres"
    name = f"{base}_bench_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        from django.db import connections

        connections.close_all()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    atexit.register(drop)
    return urlunsplit(parts._replace(path=f"/{name}"))


def setup_django() -> str:
    """Configure and migrate a fresh database; returns a label of the backend."""
    tmp = tempfile.mkdtemp(prefix="jiedao-bench-")
    os.environ["DJANGO_SETTINGS_MODULE"] = "jiedao.settings.test"
    os.environ.setdefault("JIEDAO_VAR_DIR", tmp)
    os.environ.setdefault("JIEDAO_MEDIA_ROOT", str(Path(tmp) / "media"))
    url = os.environ.get("DATABASE_URL", "")
    if url:
        os.environ["DATABASE_URL"] = _throwaway_postgres(url)
    else:
        os.environ["JIEDAO_SQLITE_PATH"] = str(Path(tmp) / "bench.sqlite3")
    atexit.register(lambda: __import__("shutil").rmtree(tmp, ignore_errors=True))

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    return backend_label()


def backend_label() -> str:
    from django.db import connection

    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        return f"PostgreSQL {cur.fetchone()[0].split()[0]}"


# The demo's residents' committees (jiedao/demo/loader.py); each has a compound and a "二期".
COMMITTEES = [
    "时代花园", "尚景园", "橡树湾", "东森花园", "加州水郡", "仁恒怡庭", "江湾国际", "德康苑", "城市之光", "新江湾公元",
    "翡翠苑", "湾谷", "政和", "殷行", "国帆", "青泽", "政悦",
]
COMPOUNDS = [f"{base}{suffix}" for base in COMMITTEES for suffix in ("", "二期")]


@dataclass
class World:
    sub: object
    rc_staff: object
    grids: list


def build_world(seed: int = 2020) -> World:
    """新江湾城 as the demo draws it: the 49 grids of jiedao.demo.geography, the 34 compounds
    (inside the outline, each in its grid) and a residents' committee member (rc_staff).
    Made through the services with actor=None, like the test fixtures (conftest.py) —
    not with the demo loader, so the benchmarks do not depend on the rest of the demo data.
    """
    from shapely.geometry import Point, mapping

    from jiedao.demo import geography as geo
    from jiedao.kernel.models import User
    from jiedao.kernel.services import membership_grant, org_unit_create, subdistrict_create
    from jiedao.places.services import grid_create, place_create

    rnd = random.Random(seed)
    sub = subdistrict_create(actor=None, code="310110012", name="新江湾城街道", district="杨浦区",
                             centre_lat=31.332, centre_lng=121.507)
    office = org_unit_create(actor=None, subdistrict=sub, kind="office", code="office", name="新江湾城街道办事处")
    rc = org_unit_create(actor=None, subdistrict=sub, kind="residents_committee", code="rc-01",
                         name="时代花园居民区居委会", parent=office)
    grids = [grid_create(actor=None, subdistrict=sub, code=f"310110012{i:03d}", name=f"第{i}网格",
                         geometry=mapping(cell), org_unit=rc)
             for i, cell in enumerate(geo.grid_cells(), start=1)]
    minx, miny, maxx, maxy = geo.OUTLINE.bounds
    for name in COMPOUNDS:
        while True:
            p = Point(rnd.uniform(minx, maxx), rnd.uniform(miny, maxy))
            if geo.OUTLINE.contains(p):
                break
        place_create(actor=None, kind="compound", subdistrict=sub, name=name, lat=p.y, lng=p.x,
                     residents_committee=rc, address=f"淞沪路{rnd.randint(1, 30) * 10}弄")
    user = User.objects.create_user(username="bench-rc", password="Bench-Password-2026", display_name="居委会干部")
    membership_grant(actor=None, user=user, org_unit=rc, role="rc_staff")
    return World(sub=sub, rc_staff=user, grids=grids)


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU ({cpu}), Python {platform.python_version()}"


@contextmanager
def timer(result: dict, key: str):
    t0 = time.perf_counter()
    yield
    result[key] = time.perf_counter() - t0


def idle_share(seconds: float = 1.0) -> float:
    """Share of the machine's CPU time left idle over ``seconds`` (the machine may be shared with other work)."""
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)

    i0, t0 = read()
    time.sleep(seconds)
    i1, t1 = read()
    return (i1 - i0) / max(t1 - t0, 1)


def wait_for_quiet(max_s: float = 20, idle: float = 0.75) -> float:
    """Wait (up to ``max_s``) until at least ``idle`` of the CPU is free; return the idle share last seen."""
    waited, share = 0.0, idle_share()
    while share < idle and waited < max_s:
        share = idle_share(2.0)
        waited += 2.0
    return share
