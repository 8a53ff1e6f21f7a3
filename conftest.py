"""Shared fixtures: a small world of two sub-districts, one user per role, people in scope and out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from shapely.geometry import box, mapping

from jiedao.kernel.models import OrgUnit, Subdistrict, User
from jiedao.kernel.pii import idnumber
from jiedao.kernel.roles import ROLES
from jiedao.kernel.services import membership_grant, org_unit_create, subdistrict_create
from jiedao.people.models import Person
from jiedao.people.services import person_create
from jiedao.places.models import Compound, Grid
from jiedao.places.services import grid_assign, grid_create, place_create

PASSWORD = "Jiedao-Test-2020"


def pytest_sessionstart(session):
    """On PostgreSQL, drop the test databases of runs whose process is gone (a run killed by its time limit leaves
    them; each run has its own names, jiedao/settings/test.py). Only the controller, before the workers start."""
    import os
    import re

    from django.conf import settings

    db = settings.DATABASES["default"]
    if hasattr(session.config, "workerinput") or db["ENGINE"] != "django.db.backends.postgresql":
        return
    import psycopg

    ours = re.compile(rf"^test_{re.escape(db['NAME'])}_run(\d+)(_gw\d+)?$")
    params = {"dbname": "postgres", "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
              "host": db.get("HOST") or None, "port": db.get("PORT") or None}
    try:
        conn = psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        return  # the run itself will say that the server is not there
    with conn:
        names = [name for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'test_%'")]
        for name in names:
            match = ours.match(name)
            if match and not os.path.exists(f"/proc/{match.group(1)}"):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

# CI shares two cores with other work: no per-example deadline, and slow input generation is not a failure.
hypothesis_settings.register_profile("jiedao", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("jiedao")

# The org unit each role's member sits in (key into Town.units).
ROLE_HOME = {
    "system_admin": "office", "security_admin": "office", "audit_admin": "office", "leader": "office",
    "dispatcher": "grid_centre", "department_handler": "dept", "grid_worker": "grid_centre",
    "rc_staff": "rc1", "service_specialist": "dept", "road_chief": "dept", "river_chief": "dept",
}


@dataclass
class Town:
    sub: Subdistrict
    units: dict[str, OrgUnit] = field(default_factory=dict)
    grids: list[Grid] = field(default_factory=list)
    compounds: dict[str, Compound] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)


def make_id(n: int, sex: str = "M") -> str:
    return idnumber.make("310110", dt.date(1980, 1, 1) + dt.timedelta(days=n * 37), n % 500, sex)


def build_town(code: str, name: str, lng0: float, lat0: float, seq: int) -> Town:
    sub = subdistrict_create(actor=None, code=code, name=name, district="杨浦区", centre_lat=lat0, centre_lng=lng0)
    t = Town(sub=sub)
    office = t.units["office"] = org_unit_create(actor=None, subdistrict=sub, kind="office", code="office",
                                                 name=f"{name}办事处")
    t.units["grid_centre"] = org_unit_create(actor=None, subdistrict=sub, kind="grid_centre", code="gc",
                                             name="网格中心", parent=office)
    t.units["dept"] = org_unit_create(actor=None, subdistrict=sub, kind="department", code="cg", name="城管中队",
                                      parent=office)
    t.units["dept2"] = org_unit_create(actor=None, subdistrict=sub, kind="department", code="scjg", name="市场监管所",
                                       parent=office)
    t.units["rc1"] = org_unit_create(actor=None, subdistrict=sub, kind="residents_committee", code="rc1",
                                     name="一居委", parent=office)
    t.units["rc2"] = org_unit_create(actor=None, subdistrict=sub, kind="residents_committee", code="rc2",
                                     name="二居委", parent=office, preparatory=True)
    for i in range(2):
        cell = box(lng0 + i * 0.01, lat0, lng0 + (i + 1) * 0.01, lat0 + 0.01)
        t.grids.append(grid_create(actor=None, subdistrict=sub, code=f"{code}-{i + 1}", name=f"网格{i + 1}",
                                   geometry=mapping(cell), org_unit=t.units[f"rc{i + 1}"]))
    for i, key in enumerate(("c1", "c2")):
        t.compounds[key] = place_create(actor=None, kind="compound", subdistrict=sub, name=f"{name}小区{i + 1}",
                                        lat=lat0 + 0.005, lng=lng0 + 0.005 + i * 0.01,
                                        residents_committee=t.units[f"rc{i + 1}"], address=f"测试路{i + 1}号")
    for role, home in ROLE_HOME.items():
        user = User.objects.create_user(username=f"{code}-{role}", password=PASSWORD, display_name=role)
        membership_grant(actor=None, user=user, org_unit=t.units[home], role=role)
        t.users[role] = user
    grid_assign(actor=None, grid=t.grids[0], user=t.users["grid_worker"])
    rc = t.users["rc_staff"]
    t.people["p1"] = person_create(actor=rc, subdistrict=sub, name="王小明", id_number=make_id(seq * 10 + 1),
                                   phone="13800000001", address="测试路1号3室", compound=t.compounds["c1"])
    # p2 lives in the other committee's compound: out of rc1 staff's scope.
    rc2_staff = User.objects.create_user(username=f"{code}-rc2-staff", password=PASSWORD)
    membership_grant(actor=None, user=rc2_staff, org_unit=t.units["rc2"], role="rc_staff")
    t.users["rc2_staff"] = rc2_staff
    dept2_handler = User.objects.create_user(username=f"{code}-dept2-handler", password=PASSWORD)
    membership_grant(actor=None, user=dept2_handler, org_unit=t.units["dept2"], role="department_handler")
    t.users["dept2_handler"] = dept2_handler
    t.people["p2"] = person_create(actor=rc2_staff, subdistrict=sub, name="李小红",
                                   id_number=make_id(seq * 10 + 2, "F"), phone="13900000002",
                                   address="测试路2号5室", compound=t.compounds["c2"])
    return t


@pytest.fixture
def town(db) -> Town:
    return build_town("T1", "甲街道", 121.50, 31.33, 1)


@pytest.fixture
def other_town(db) -> Town:
    return build_town("T2", "乙街道", 121.60, 31.20, 2)


@pytest.fixture
def client_for():
    """A logged-in test client for a user (session auth, as the browser uses)."""

    def make(user) -> Client:
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture
def psycopg_commands(monkeypatch):
    """Call it to start recording what psycopg sends on its own, not through a cursor (BEGIN, COMMIT, ROLLBACK);
    it returns the list the commands go into. PostgreSQL only."""

    def start() -> list[bytes]:
        from django.db import connection

        connection.ensure_connection()
        sent: list[bytes] = []
        real_command = type(connection.connection)._exec_command

        def command(self, cmd, *args, **kwargs):
            sent.append(bytes(cmd))
            return real_command(self, cmd, *args, **kwargs)

        monkeypatch.setattr(type(connection.connection), "_exec_command", command)
        return sent

    return start


@pytest.fixture
def all_roles():
    return sorted(ROLES)


@pytest.fixture(autouse=True)
def _fresh_grid_index():
    """The point → grid index is cached per process by sub-district id and places_version; tests that empty the
    database reuse both, so each test starts with an empty cache (production never reuses an id)."""
    from jiedao.places import geo

    geo._cache.clear()
    geo._place_cache.clear()
    yield
    geo._cache.clear()
    geo._place_cache.clear()
