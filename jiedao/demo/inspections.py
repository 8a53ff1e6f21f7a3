"""Demo checklists, plans and two months of inspections: every use of the engine is a template and data."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

from jiedao.cases.categories import category_subtree_ensure
from jiedao.inspections.services.inspect import inspection_submit
from jiedao.inspections.services.plans import plan_create
from jiedao.inspections.services.templates import template_create
from jiedao.places.models import Building, Compound, Premises, River, Road  # noqa: F401

SH = ZoneInfo("Asia/Shanghai")

FINDINGS = [("I01001", "道路巡查发现问题"), ("I01002", "河道巡查发现问题"), ("I01003", "垃圾分类不达标"),
            ("I01004", "防疫措施不到位"), ("I01005", "生产安全隐患"), ("I01006", "消防安全隐患"),
            ("I01007", "食品药品安全隐患"), ("I01008", "创全迎检薄弱环节")]


def _pf(code, text, cat=None, required=True):
    return {"code": code, "text": text, "kind": "pass_fail", "case_category": cat, "required": required}


def templates(sub, cats):
    c = dict(zip([f[0] for f in FINDINGS], cats, strict=True))
    specs = [
        ("ROAD", "道路巡查（路长制2.0）", "road_patrol", "road", None, [
            _pf("clean", "路面整洁，无暴露垃圾", c["I01001"]), _pf("stall", "无占道经营、跨门营业", c["I01001"]),
            _pf("facility", "井盖、护栏、路灯等设施完好", c["I01001"]), _pf("parking", "非机动车停放有序", c["I01001"]),
            {"code": "photo", "text": "现场照片", "kind": "photo", "required": False}]),
        ("WEAK", "薄弱环节检查（淞沪路以西·创全迎检）", "weak_spot", "road", None, [
            _pf("ads", "无乱张贴、乱涂写", c["I01008"]), _pf("greening", "绿化带无毁绿、无积存垃圾", c["I01008"]),
            _pf("signs", "公益广告、文明宣传到位", c["I01008"])]),
        ("RIVER", "河道巡查（河长制）", "river_patrol", "river", None, [
            _pf("surface", "水面无漂浮物", c["I01002"]), _pf("outfall", "无违法排污口", c["I01002"]),
            {"code": "clarity", "text": "透明度", "kind": "number", "unit": "cm", "min_value": 30,
             "case_category": c["I01002"]},
            _pf("bank", "岸坡整洁，无违章搭建", c["I01002"])]),
        ("GS", "生活垃圾分类检查", "garbage_sorting", "compound", 80, [
            {"code": "accuracy", "text": "湿垃圾分类纯净度", "kind": "score", "max_score": 40, "fail_below": 28,
             "case_category": c["I01003"]},
            {"code": "bins", "text": "桶站设施（标识、桶数、清洁）", "kind": "score", "max_score": 20},
            {"code": "timing", "text": "定时定点投放执行", "kind": "score", "max_score": 20},
            {"code": "guard", "text": "投放点有人值守", "kind": "choice", "choices": [
                {"value": "yes", "label": "有", "passes": True}, {"value": "no", "label": "无", "passes": False}],
             "case_category": c["I01003"]},
            {"code": "env", "text": "投放点周边环境", "kind": "score", "max_score": 20}]),
        ("EPI-SHOP", "疫情防控检查（沿街商铺）", "epidemic_key_place", "premises", None, [
            _pf("code", "张贴场所码并查验", c["I01004"]), _pf("mask", "从业人员佩戴口罩", c["I01004"]),
            _pf("disinfect", "每日消毒并有记录", c["I01004"]),
            {"code": "temp", "text": "测温设备可用", "kind": "pass_fail", "case_category": c["I01004"]}]),
        ("EPI-BLDG", "疫情防控检查（商务楼宇、商业广场、住宿企业）", "epidemic_key_place", "building", None, [
            _pf("entrance", "入口测温、验码", c["I01004"]), _pf("register", "来访人员登记", c["I01004"]),
            _pf("lift", "电梯、公共区域定时消毒", c["I01004"]),
            {"code": "tenants", "text": "在管企业沟通（复工、人员情况）", "kind": "text", "required": False}]),
        ("SAFE-PROD", "生产安全检查", "production_safety", "premises", None, [
            _pf("gas", "燃气管道、报警器完好", c["I01005"]), _pf("electric", "无私拉乱接电线", c["I01005"])]),
        ("SAFE-FIRE", "消防安全检查", "fire_safety", "building", None, [
            _pf("exit", "疏散通道、安全出口畅通", c["I01006"]), _pf("extinguisher", "灭火器在有效期内", c["I01006"]),
            _pf("ebike", "无电动自行车楼道停放、充电", c["I01006"])]),
        ("SAFE-FOOD", "食品药品安全检查", "food_drug_safety", "premises", None, [
            _pf("licence", "证照齐全有效", c["I01007"]), _pf("storage", "食品储存规范、无过期", c["I01007"]),
            _pf("health", "从业人员健康证", c["I01007"])]),
        ("ACC", "美丽街区项目验收", "acceptance", "road", None, [
            _pf("design", "按设计方案完成立面、绿化、店招整治"), _pf("safety", "施工围挡拆除、路面恢复"),
            _pf("parking", "非机动车停放点投入使用"), {"code": "photo", "text": "验收照片", "kind": "photo", "required": False}]),
    ]
    out = {}
    for code, name, kind, target_type, pass_score, items in specs:
        out[code] = template_create(actor=None, subdistrict=sub, code=code, name=name, kind=kind,
                                    target_type=target_type, pass_score=pass_score, items=items)
    return out


def load_inspections(*, sub, units, users, seed: int = 2020) -> int:
    cats = category_subtree_ensure(actor=None, subdistrict=sub, source="inspections", kind="event",
                                   major_code="I01", major_name="巡查发现", leaves=FINDINGS,
                                   default_department=units["dept-cg"], urgent_hours=4, normal_days=3)
    tpl = templates(sub, cats)
    rnd = random.Random(seed)
    today = dt.date.today()
    start = today - dt.timedelta(days=56)
    roads = list(Road.objects.filter(subdistrict=sub))
    arterial = [r for r in roads if r.road_class == "arterial"]
    alleys = [r for r in roads if r.road_class != "arterial"]
    west = [r for r in roads if r.lng is not None and r.lng < 121.5045]  # 淞沪路以西
    rc1 = units["rc-01"]
    rc1_compounds = list(Compound.objects.filter(subdistrict=sub, residents_committee=rc1))
    all_compounds = list(Compound.objects.filter(subdistrict=sub))
    offices = list(Building.objects.filter(subdistrict=sub, kind__in=["office", "plaza", "hotel"]))
    shops = list(Premises.objects.filter(subdistrict=sub).order_by("id")[:40])
    plans = [
        ("主干道每日巡查（路长）", "ROAD", users["demo-road-chief"], "daily", True, [("road", r.pk) for r in arterial]),
        ("背街小巷每周巡查（路长）", "ROAD", users["demo-road-chief"], "weekly", False, [("road", r.pk) for r in alleys]),
        ("淞沪路以西薄弱环节每周检查", "WEAK", users["demo-grid-worker"], "weekly", True, [("road", r.pk) for r in west]),
        ("河道每周巡查（河长）", "RIVER", users["demo-river-chief"], "weekly", False,
         [("river", r.pk) for r in River.objects.filter(subdistrict=sub)]),
        ("时代花园居民区垃圾分类周检", "GS", users["demo-rc1"], "weekly", True, [("compound", c.pk) for c in rc1_compounds]),
        ("商务楼宇疫情防控周检（服务专员）", "EPI-BLDG", users["demo-specialist"], "weekly", True,
         [("building", b.pk) for b in offices[:20]]),
        ("沿街商铺疫情防控月检", "EPI-SHOP", users["demo-department"], "monthly", True, [("premises", p.pk) for p in shops]),
    ]
    made = 0
    for name, code, inspector, freq, workdays, targets in plans:
        plan = plan_create(actor=None, subdistrict=sub, name=name, template_code=code, inspector=inspector,
                           frequency=freq, start_date=start, workdays_only=workdays, targets=targets)
        made += _history(plan, tpl[code], inspector, sub, rnd, start, today)
    # The sub-district's garbage-sorting ranking: every compound checked twice a month by the centre's team.
    for comp in all_compounds:
        for week in range(0, 8, 2):
            day = today - dt.timedelta(days=7 * week + rnd.randint(1, 5))
            made += _one(tpl["GS"], users["demo-rc1"] if comp in rc1_compounds else users["demo-grid-worker"],
                         sub, rnd, "compound", comp.pk, day, None, quality=rnd.uniform(0.6, 1.0), unscoped=True)
    return made


def _answers(template, rnd, quality):
    out = {}
    for item in template.items.all():
        bad = rnd.random() > quality
        if item.kind == "pass_fail":
            out[item.code] = "fail" if bad and rnd.random() < 0.5 else "pass"
        elif item.kind == "score":
            top = item.max_score or 10
            out[item.code] = round(top * (rnd.uniform(0.5, 0.8) if bad else rnd.uniform(0.8, 1.0)))
        elif item.kind == "number":
            out[item.code] = round(rnd.uniform(20, 35) if bad else rnd.uniform(35, 80))
        elif item.kind == "choice":
            out[item.code] = item.choices[-1]["value"] if bad and rnd.random() < 0.4 else item.choices[0]["value"]
        elif item.kind == "text":
            out[item.code] = ""
    return out


def _one(template, inspector, sub, rnd, target_type, target_id, day, plan, quality, unscoped=False):
    from unittest import mock

    finished = dt.datetime(day.year, day.month, day.day, rnd.randint(9, 16), rnd.randint(0, 59), tzinfo=SH)
    with mock.patch("django.utils.timezone.now", lambda: finished):
        try:
            inspection_submit(actor=inspector, subdistrict=sub, template=template, plan=plan, target_type=target_type,
                              target_id=target_id, answers=_answers(template, rnd, quality),
                              started_at=finished - dt.timedelta(minutes=rnd.randint(5, 30)), finished_at=finished)
        except Exception:  # noqa: BLE001 - a target outside this inspector's scope is skipped in the demo
            if not unscoped:
                raise
            return 0
    return 1


def _history(plan, template, inspector, sub, rnd, start, today):
    from jiedao.inspections.services.schedule import occurrences

    made = 0
    for occ in occurrences(plan, start, today - dt.timedelta(days=1)):
        for t in plan.targets.all():
            if rnd.random() < 0.12:  # some are missed, so coverage and the missed alerts have something to show
                continue
            day = occ.first + dt.timedelta(days=rnd.randint(0, max((occ.last - occ.first).days, 0)))
            made += _one(template, inspector, sub, rnd, t.target_type, t.target_id, day, plan,
                         quality=rnd.uniform(0.75, 0.98))
    return made


def load_streets(*, sub, units, users, templates_by_code=None, seed: int = 2020) -> None:
    """一路一策 for the arterial roads, a dredging log, a drone flight, and two 美丽街区 projects."""
    import io as _io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from jiedao.streets.services import (
        dredging_record,
        drone_flight_import,
        milestone_progress,
        project_create,
        road_policy_save,
    )

    rnd = random.Random(seed)
    chief, river_chief, disp = users["demo-road-chief"], users["demo-river-chief"], users["demo-dispatcher"]
    today = dt.date.today()
    for road in Road.objects.filter(subdistrict=sub, road_class="arterial"):
        road_policy_save(actor=chief, road=road, problems=f"{road.name}沿线早晚高峰占道经营、非机动车乱停放",
                         measures="城管中队与市场监管所联合巡查；增设非机动车停放点；商户门责制承诺",
                         targets="占道经营动态清零，非机动车停放规范率≥95%", effective_from=today - dt.timedelta(days=200))
        road_policy_save(actor=chief, road=road, problems=f"{road.name}沿线占道经营回潮；部分路段绿化带积存垃圾",
                         measures="错时巡查；绿化养护单位每日保洁；网格员每日核查",
                         targets="占道经营清零；绿化带保洁达标率100%", effective_from=today - dt.timedelta(days=40))
    rivers = list(River.objects.filter(subdistrict=sub))
    for river in rivers:
        for k in range(2):
            dredging_record(actor=river_chief, river=river, date=today - dt.timedelta(days=30 + 90 * k),
                            length_m=rnd.randint(150, 600), volume_m3=rnd.randint(200, 900),
                            contractor="杨浦区河道养护有限公司")
    if rivers:
        river = rivers[0]
        line = river.geometry["coordinates"]
        files = []
        for n in range(6):
            lng, lat = line[min(n // 2, len(line) - 1)]
            img = Image.new("RGB", (640, 480), (40, 110 + n * 10, 170))
            exif = Image.Exif()
            lat, lng = lat + rnd.uniform(-0.0003, 0.0003), lng + rnd.uniform(-0.0003, 0.0003)

            def dms(v):
                d = int(v)
                m = int((v - d) * 60)
                return (float(d), float(m), round((v - d - m / 60) * 3600, 3))
            if n != 5:  # one photo without GPS: the import reports it
                exif[0x8825] = {1: "N", 2: dms(lat), 3: "E", 4: dms(lng)}
            exif[0x8769] = {36867: f"{today - dt.timedelta(days=3):%Y:%m:%d} 10:{10 + n}:00"}
            buf = _io.BytesIO()
            img.save(buf, "JPEG", exif=exif, quality=70)
            files.append(SimpleUploadedFile(f"DJI_{n + 1:04d}.JPG", buf.getvalue()))
        drone_flight_import(actor=river_chief, river=river, flown_on=today - dt.timedelta(days=3), files=files,
                            pilot="河道养护公司飞手")
    roads = {r.name: r for r in Road.objects.filter(subdistrict=sub)}
    for name, road, budget, status_progress in (("政立路美丽街区", roads.get("政立路"), "260.00", (100, 60)),
                                               ("国和路街区景观提升", roads.get("国和路"), "180.00", (40, 0))):
        project = project_create(actor=disp, subdistrict=sub, name=name, road=road, budget=budget,
                                 start_date=today - dt.timedelta(days=120), end_date=today + dt.timedelta(days=60),
                                 description="沿街立面整治、绿化提升、店招店牌规范、非机动车停放点",
                                 milestones=[("方案设计", today - dt.timedelta(days=90)),
                                             ("施工", today + dt.timedelta(days=30))])
        for milestone, progress in zip(project.milestones.all(), status_progress):
            if progress:
                milestone_progress(actor=disp, milestone=milestone, progress=progress, spent=str(int(float(budget) * 0.4)))
