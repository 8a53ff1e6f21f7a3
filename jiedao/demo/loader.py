"""The 新江湾城 demo data (python manage.py load_demo). Deterministic: the same seed gives the same data.

Numbers come from the 2020 plan (shared FEATURES.md): 71 office buildings,
6 commercial plazas, 6 accommodation businesses, 679 street shops and sole
traders, 3 new preparatory residents' committees, 7 epidemic working groups.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from faker import Faker
from shapely.geometry import Point, mapping

from jiedao.kernel.audit import audit_record
from jiedao.kernel.calendar import add_working_days
from jiedao.kernel.models import OrgUnit, Subdistrict, User
from jiedao.kernel.pii import crypto, idnumber
from jiedao.kernel.scoping import scope_changed
from jiedao.kernel.services import membership_grant, org_unit_create, subdistrict_create
from jiedao.people.models import Person
from jiedao.places.geo import grid_index
from jiedao.places.models import Building, Compound, Grid, GridAssignment, Premises, River, Road
from jiedao.places.services import _area_m2

from . import geography as geo

SUBDISTRICT_CODE = "310110012"  # 杨浦区新江湾城街道

DEPARTMENTS = [
    ("dept-cg", "城管中队"), ("dept-scjg", "市场监管所"), ("dept-pcs", "新江湾城派出所"), ("dept-aj", "安全生产监管所"),
    ("dept-gh", "街道总工会"), ("dept-fg", "房管办"), ("dept-lh", "绿化市容所"), ("dept-sw", "水务站"),
    ("dept-sq", "社区事务受理服务中心"), ("dept-ws", "社区卫生服务中心"), ("dept-yy", "营商服务办公室"),
    ("dept-dj", "党建办公室"), ("dept-xf", "消防站"),
]
WORKING_GROUPS = ["信息统计组", "实地走访组", "协调联络组", "应急处置组", "宣传引导组", "物资保障组", "督查指导组"]
COMMITTEES = [
    "时代花园", "尚景园", "橡树湾", "东森花园", "加州水郡", "仁恒怡庭", "江湾国际", "德康苑", "城市之光", "新江湾公元",
    "翡翠苑", "湾谷", "政和", "殷行", "国帆", "青泽", "政悦",
]
PREPARATORY = {"国帆", "青泽", "政悦"}  # the plan's 3 new preparatory committees
PROPERTY_COMPANIES = ["绿城物业", "万科物业", "仁恒物业", "上房物业", "陆家嘴物业"]
ROLE_USERS = [
    ("demo-admin", "系统管理员（演示）", "system_admin", "office"),
    ("demo-security", "安全管理员（演示）", "security_admin", "office"),
    ("demo-auditor", "审计管理员（演示）", "audit_admin", "office"),
    ("demo-leader", "街道领导（演示）", "leader", "office"),
    ("demo-dispatcher", "网格中心调度员（演示）", "dispatcher", "grid_centre"),
    ("demo-department", "城管中队处置员（演示）", "department_handler", "dept-cg"),
    ("demo-department-lh", "绿化市容所处置员（演示）", "department_handler", "dept-lh"),
    ("demo-grid-worker", "网格员（演示）", "grid_worker", "grid_centre"),
    ("demo-specialist", "服务专员（演示）", "service_specialist", "dept-yy"),
    ("demo-road-chief", "路长（演示）", "road_chief", "dept-cg"),
    ("demo-river-chief", "河长（演示）", "river_chief", "dept-sw"),
    ("demo-rc1", "时代花园居委会干部（演示）", "rc_staff", "rc-01"),
    ("demo-rc2", "尚景园居委会干部（演示）", "rc_staff", "rc-02"),
]
REGIONS = ["310110", "310110", "310110", "310115", "310104", "320102", "330106", "340104", "420102", "510104",
           "370102", "410105", "110105", "440106"]


@dataclass
class DemoSize:
    people: int = 5200
    premises: int = 679
    offices: int = 71
    plazas: int = 6
    hotels: int = 6
    cases: int = 260


def demo_users() -> list[tuple[str, str]]:
    return [(u, label) for u, label, _, _ in ROLE_USERS]


def database_is_empty() -> bool:
    return not Subdistrict.objects.exists()


@transaction.atomic
def load(*, seed: int = 2020, size: DemoSize | None = None, password: str | None = None) -> Subdistrict:
    size = size or DemoSize()
    password = password or settings.DEMO_PASSWORD
    rnd = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)

    sub = subdistrict_create(actor=None, code=SUBDISTRICT_CODE, name="新江湾城街道", district="杨浦区",
                             centre_lat=31.332, centre_lng=121.507)
    units: dict[str, OrgUnit] = {}
    office = units["office"] = org_unit_create(actor=None, subdistrict=sub, kind="office", code="office",
                                               name="新江湾城街道办事处")
    units["grid_centre"] = org_unit_create(actor=None, subdistrict=sub, kind="grid_centre", code="grid_centre",
                                           name="网格化综合管理中心", parent=office)
    for code, name in DEPARTMENTS:
        units[code] = org_unit_create(actor=None, subdistrict=sub, kind="department", code=code, name=name,
                                      parent=office)
    epi = org_unit_create(actor=None, subdistrict=sub, kind="working_group", code="epi-lead",
                          name="疫情防控领导小组", parent=office)
    for i, name in enumerate(WORKING_GROUPS, start=1):
        org_unit_create(actor=None, subdistrict=sub, kind="working_group", code=f"epi-{i}", name=name, parent=epi)
    committees = []
    for i, name in enumerate(COMMITTEES, start=1):
        unit = org_unit_create(actor=None, subdistrict=sub, kind="residents_committee", code=f"rc-{i:02d}",
                               name=f"{name}居民区居委会" + ("（筹）" if name in PREPARATORY else ""),
                               parent=office, preparatory=name in PREPARATORY)
        units[unit.code] = unit
        committees.append(unit)
    companies = [org_unit_create(actor=None, subdistrict=sub, kind="property_company", code=f"pm-{i}", name=n)
                 for i, n in enumerate(PROPERTY_COMPANIES, start=1)]

    # --- grids
    cells = geo.grid_cells()
    grids = []
    for i, cell in enumerate(cells, start=1):
        c = cell.centroid
        grids.append(Grid(subdistrict=sub, code=f"310110012{i:03d}", name=f"第{i}网格", geometry=mapping(cell),
                          lat=c.y, lng=c.x, area_m2=_area_m2(cell)))
    Grid.objects.bulk_create(grids)
    Subdistrict.objects.filter(pk=sub.pk).update(places_version=1)
    index = grid_index(sub.pk)

    # --- roads and rivers
    roads = []
    for name, cls, coords in geo.ROADS:
        line = geo.line(coords)
        roads.append(Road(subdistrict=sub, name=name, road_class=cls, geometry=mapping(line),
                          lat=line.centroid.y, lng=line.centroid.x, length_m=line.length * 105_000))
    Road.objects.bulk_create(roads)
    River.objects.bulk_create([
        River(subdistrict=sub, name=name, geometry=mapping(geo.line(coords)), lat=geo.line(coords).centroid.y,
              lng=geo.line(coords).centroid.x, length_m=geo.line(coords).length * 105_000)
        for name, coords in geo.RIVERS
    ])

    # --- compounds: two per committee, placed inside the outline
    def random_point_inside():
        minx, miny, maxx, maxy = geo.OUTLINE.bounds
        while True:
            p = Point(rnd.uniform(minx, maxx), rnd.uniform(miny, maxy))
            if geo.OUTLINE.contains(p):
                return p

    compounds = []
    for i, rc in enumerate(committees):
        base = COMMITTEES[i]
        for j in range(2):
            p = random_point_inside()
            road = geo.ROADS[(i * 2 + j) % len(geo.ROADS)][0]
            compounds.append(Compound(
                subdistrict=sub, name=f"{base}{'' if j == 0 else '二期'}", lat=p.y, lng=p.x,
                address=f"{road}{rnd.randint(1, 30) * 10}弄", residents_committee=rc,
                property_company=companies[(i + j) % len(companies)], households=rnd.randint(300, 1800),
                geometry=mapping(p.buffer(0.0009, quad_segs=2).intersection(geo.OUTLINE)),
            ))
    for c in compounds:
        c.grid_id = index.locate(c.lat, c.lng)
    Compound.objects.bulk_create(compounds)
    # A grid belongs to the committee of the nearest compound.
    for g in Grid.objects.filter(subdistrict=sub):
        nearest = min(compounds, key=lambda c: (c.lat - g.lat) ** 2 + (c.lng - g.lng) ** 2)
        g.org_unit_id = nearest.residents_committee_id
        g.save(update_fields=["org_unit"])

    # --- buildings
    buildings = []
    for c in compounds:
        for n in range(1, 9):
            buildings.append(Building(subdistrict=sub, name=f"{c.name}{n}号楼", kind="residential", compound=c,
                                      lat=c.lat + rnd.uniform(-0.0005, 0.0005), lng=c.lng + rnd.uniform(-0.0005, 0.0005),
                                      address=f"{c.address}{n}号", floors=rnd.choice([6, 11, 18, 24])))
    for kind, count, label in (("office", size.offices, "商务楼"), ("plaza", size.plazas, "商业广场"),
                               ("hotel", size.hotels, "酒店")):
        for n in range(1, count + 1):
            p = random_point_inside()
            prefix = ["湾谷科技园", "创智", "新江湾", "国正中心", "尚浦", "悠方", "政立", "殷行"][n % 8]
            name = {"office": f"{prefix}{n}号{label}", "plaza": f"{prefix}{label}{n}期",
                    "hotel": f"{prefix}{['商务', '精品', '公寓'][n % 3]}{label}{n}"}[kind]
            buildings.append(Building(subdistrict=sub, name=name, kind=kind, lat=p.y, lng=p.x,
                                      address=f"{rnd.choice(geo.ROADS)[0]}{rnd.randint(1, 400)}号",
                                      floors=rnd.randint(3, 25)))
    for b in buildings:
        b.grid_id = index.locate(b.lat, b.lng)
    Building.objects.bulk_create(buildings, batch_size=500)

    # --- street premises along the roads
    road_rows = list(Road.objects.filter(subdistrict=sub))
    shop_kinds = ["shop"] * 5 + ["sole_trader"] * 3 + ["restaurant"] * 2 + ["venue"]
    trades = ["便利店", "面馆", "药房", "理发店", "水果店", "咖啡馆", "洗衣店", "花店", "五金店", "早餐店", "烟杂店", "生鲜店"]
    premises = []
    for n in range(size.premises):
        road = road_rows[n % len(road_rows)]
        line = geo.line(road.geometry["coordinates"])
        at = line.interpolate(rnd.random(), normalized=True)
        off = rnd.choice([-1, 1]) * 0.00018
        lat, lng = at.y + off, at.x + off
        if not geo.OUTLINE.contains(Point(lng, lat)):
            lat, lng = at.y, at.x
        premises.append(Premises(subdistrict=sub, name=f"{fake.last_name()}记{rnd.choice(trades)}", kind=rnd.choice(shop_kinds),
                                 road=road, lat=lat, lng=lng, address=f"{road.name}{rnd.randint(1, 999)}号"))
    for p in premises:
        p.grid_id = index.locate(p.lat, p.lng)
    Premises.objects.bulk_create(premises, batch_size=500)
    Subdistrict.objects.filter(pk=sub.pk).update(places_version=F("places_version") + 1)  # bulk: no signals

    # --- users
    users = {}
    for username, label, role, unit_code in ROLE_USERS:
        user = User(username=username, display_name=label)
        user.set_password(password)  # demo only: the shared demo password is not a policy password
        user.save()
        users[username] = user
        membership_grant(actor=None, user=user, org_unit=units[unit_code], role=role)
    # The grid worker patrols the first two grids of 时代花园's committee.
    rc1_grids = list(Grid.objects.filter(subdistrict=sub, org_unit=units["rc-01"]).order_by("code")[:2]) or \
        list(Grid.objects.filter(subdistrict=sub).order_by("code")[:2])
    GridAssignment.objects.bulk_create([GridAssignment(subdistrict=sub, user=users["demo-grid-worker"], grid=g)
                                        for g in rc1_grids])
    scope_changed(user_ids=[users["demo-grid-worker"].pk])  # bulk: no signals
    Road.objects.filter(subdistrict=sub, road_class="arterial").update(chief=users["demo-road-chief"])
    River.objects.filter(subdistrict=sub).update(chief=users["demo-river-chief"])

    # --- people
    compound_rows = list(Compound.objects.filter(subdistrict=sub).order_by("id"))
    kinds = ["registered"] * 5 + ["resident"] * 3 + ["migrant"] * 2 + ["foreign"] * 0
    people = []
    used: set[str] = set()
    today = dt.date(2020, 6, 1)
    for n in range(size.people):
        sex = rnd.choice("MF")
        birth = dt.date(rnd.randint(1935, 2015), rnd.randint(1, 12), rnd.randint(1, 28))
        while True:
            number = idnumber.make(rnd.choice(REGIONS), birth, rnd.randint(0, 499), sex)
            if number not in used:
                used.add(number)
                break
        c = compound_rows[n % len(compound_rows)]
        phone = f"1{rnd.choice('3456789')}{rnd.randint(0, 999999999):09d}"
        name = (fake.last_name() + (fake.first_name_male() if sex == "M" else fake.first_name_female()))
        people.append(Person(
            subdistrict=sub, name=name, id_number=number, id_number_bidx=crypto.blind_index("id", number),
            phone=phone, phone_bidx=crypto.blind_index("phone", phone),
            address=f"{c.address}{rnd.randint(1, 8)}号{rnd.randint(1, 24)}{rnd.randint(1, 4):02d}室",
            compound=c, grid_id=c.grid_id, sex=sex, birth_year=birth.year, residence_type=rnd.choice(kinds),
            registered_on=today - dt.timedelta(days=rnd.randint(0, 900)),
        ))
    Person.objects.bulk_create(people, batch_size=1000)

    from .cases import load_cases

    sub.refresh_from_db()  # services read the places version and cache tokens from this row
    cases_made = load_cases(sub=sub, units=units, users=users, seed=seed, count=size.cases)
    from jiedao.inspections.services.inspect import check_missed

    from .inspections import load_inspections

    inspections_made = load_inspections(sub=sub, units=units, users=users, seed=seed)
    from .inspections import load_streets

    load_streets(sub=sub, units=units, users=users, seed=seed)
    check_missed(lookback_days=14)
    from .cases import deadlines_settled

    if size.cases:  # the benchmarks load the world without cases and generate their own
        deadlines_settled(sub=sub, units=units, users=users, seed=seed)
    audit_record(actor=None, action="demo.load", obj=sub, changes={"cases": [None, cases_made], "inspections": [None, inspections_made],
        "grids": [None, len(grids)], "compounds": [None, len(compounds)], "buildings": [None, len(buildings)],
        "premises": [None, len(premises)], "people": [None, len(people)], "seed": [None, seed]})
    # A deadline set now already reaches into 2027, a year the holiday package does not know:
    # the system administrator sees the alert asking for the 2027 schedule.
    add_working_days(dt.datetime(2026, 12, 28, 9, 0, tzinfo=dt.UTC), 5, subdistrict_id=sub.pk)
    return sub
