"""Demo cases for 新江湾城: categories configured, a device source, and a few hundred cases in every state,
made through the engine's own services (so timelines, audit and deadlines are real)."""

from __future__ import annotations

import datetime as dt
import io
import random
from unittest import mock

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from jiedao.cases.categories import categories_load
from jiedao.cases.models import AlarmSource, Case, CaseCategory, Open311Key
from jiedao.cases.services import case_transition
from jiedao.cases.services.intake import Intake, case_report
from jiedao.cases.signals import categories_changed
from jiedao.kernel.models import OrgUnit, User
from jiedao.places.models import Building, Grid

OPEN311_DEMO_KEY = "jiedao-demo-open311"
DEPARTMENT_FOR = {"城管中队": "dept-cg", "市容所": "dept-lh", "绿化市容": "dept-lh", "水务": "dept-sw",
                  "公安派出所": "dept-pcs", "房管办": "dept-fg", "市场监管所": "dept-scjg"}
COMMON = ["06010", "06001", "06002", "01037", "01001", "09001", "09002", "04001", "06030", "08001", "02001"]
DESCRIPTIONS = {
    "06010": "人行道上有暴露垃圾，已堆放两天", "06001": "小区围墙外私搭乱建雨棚", "01037": "路灯夜间不亮",
    "01001": "供水井盖破损，有行人踩空风险", "09001": "店外占道经营，堵塞人行道", "04001": "行道树倒伏",
    "06002": "沿街乱张贴小广告", "06030": "绿地内积存垃圾", "08001": "施工工地围挡破损", "02001": "交通标志被遮挡",
    "09002": "机动车乱停放占用消防通道",
}


def _photo(seed: int) -> SimpleUploadedFile:
    rnd = random.Random(seed)
    img = Image.new("RGB", (480, 360), (rnd.randint(90, 200), rnd.randint(90, 200), rnd.randint(90, 200)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rnd.randint(0, 440), rnd.randint(0, 320)
        draw.rectangle([x, y, x + rnd.randint(10, 60), y + rnd.randint(10, 40)], fill=(rnd.randint(0, 255), 80, 60))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=70)
    return SimpleUploadedFile(f"demo-{seed}.jpg", buf.getvalue(), content_type="image/jpeg")


TARGETS = ["registered", "dispatched", "accepted", "handled", "verified", "closed"]


def _steps(users, units, checker, feedback: str) -> list:
    """The main path (GOV-2) as the demo's people walk it, one step per state in ``TARGETS``; ``checker`` verifies."""
    disp, dept = users["demo-dispatcher"], users["demo-department"]
    return [("register", disp, {}), ("dispatch", disp, {"lead_department_id": units["dept-cg"].pk}),
            ("accept", dept, {}), ("feedback", dept, {"comment": feedback}), ("verify", checker, {}),
            ("close", disp, {})]


def _co_handler(case, user, action: str, comment: str = ""):
    return case_transition(actor=user, case=case, action=action, expected_version=case.version,
                           **({"comment": comment} if comment else {}))


def load_cases(*, sub, units: dict[str, OrgUnit], users: dict[str, User], seed: int = 2020, count: int = 260) -> int:
    departments = {name: units[code] for name, code in DEPARTMENT_FOR.items() if code in units}
    categories_load(actor=None, subdistrict=sub, departments=departments, urgent_hours=4, normal_days=3)
    # Components are repaired by contractors: a longer ordinary deadline.
    CaseCategory.objects.filter(subdistrict=sub, kind="component", is_leaf=True).update(normal_days=5)
    categories_changed(subdistrict_id=sub.pk)  # bulk: no signal
    AlarmSource.objects.create(subdistrict=sub, code="xueliang-xjw", name="雪亮工程·新江湾城", secret="demo-secret-xueliang",
                               category_map={"garbage": "06010", "parking": "09002", "stall": "09001"})
    Open311Key.objects.create(subdistrict=sub, name="演示客户端", digest=Open311Key.digest_of(OPEN311_DEMO_KEY))
    rnd = random.Random(seed)
    cats = {c.code: c for c in CaseCategory.objects.filter(subdistrict=sub, kind="event", code__in=COMMON)}
    grids = list(Grid.objects.filter(subdistrict=sub))
    buildings = list(Building.objects.filter(subdistrict=sub).exclude(lat=None).values_list("lat", "lng"))
    gw, disp, dept = users["demo-grid-worker"], users["demo-dispatcher"], users["demo-department"]
    gw_grids = set(gw.grid_assignments.values_list("grid_id", flat=True))
    # Joint handling (GOV-2): some garbage and tree cases go to 城管中队 with 绿化市容所 co-handling, which
    # accepts and gives its own feedback (the evaluation credits it). Its own generator: the rest stays as seeded.
    co_unit, co_user = units.get("dept-lh"), users.get("demo-department-lh")
    joint_rnd = random.Random(seed + 11)
    real_now = timezone.now()
    made = 0
    for n in range(count):
        code = rnd.choice(COMMON)
        category = cats.get(code)
        if rnd.random() < 0.25 and gw_grids:  # the demo grid worker's own grids get their share
            pick = rnd.choice(sorted(gw_grids))
            g = next(g for g in grids if g.pk == pick)
            lat, lng = g.lat + rnd.uniform(-0.0008, 0.0008), g.lng + rnd.uniform(-0.0008, 0.0008)
        elif rnd.random() < 0.6 and buildings:
            lat, lng = rnd.choice(buildings)
            lat, lng = lat + rnd.uniform(-0.0004, 0.0004), lng + rnd.uniform(-0.0004, 0.0004)
        else:
            g = rnd.choice(grids)
            lat, lng = g.lat, g.lng
        start = real_now - dt.timedelta(days=rnd.uniform(0.2, 75), hours=rnd.uniform(0, 8))
        source = rnd.choice(["grid_worker"] * 5 + ["hotline"] * 3 + ["resident", "sensor"])
        clock = [start]

        with mock.patch("django.utils.timezone.now", lambda clock=clock: clock[0]):
            case = case_report(actor=gw if source == "grid_worker" else None, subdistrict_id=sub.pk, intake=Intake(
                source=source, description=DESCRIPTIONS.get(code, "需要处置的问题"), category=category, lat=lat, lng=lng,
                external_id=f"DEMO{n:05d}" if source in ("hotline", "sensor") else "",
                reporter_name="市民" if source in ("hotline", "resident") else "",
                reporter_phone=f"139{rnd.randint(10000000, 99999999)}" if source == "hotline" else "",
                urgency="urgent" if rnd.random() < 0.1 else "normal",
                photos=(_photo(seed * 1000 + n),) if n % 4 == 0 else ()))
            made += 1
            age_days = (real_now - start).days
            # Older cases are further along; a few stay stuck to make the queues, overdue lists and automatic
            # supervision real (a third of two months' cases stuck made the supervision list the whole queue).
            if age_days < 6:
                stop = rnd.choice(["reported", "registered", "dispatched", "accepted", "handled", "verified"])
            elif age_days < 20:
                stop = rnd.choice(["closed"] * 7 + ["accepted", "dispatched", "handled"])
            else:
                stop = rnd.choice(["closed"] * 24 + ["accepted"])
            if stop == "reported":
                continue
            # The grid worker verifies in their own grids; elsewhere the centre verifies (by video or phone).
            checker = gw if case.grid_id in gw_grids else disp
            joint = co_user is not None and code in ("06010", "06030", "04001") and joint_rnd.random() < 0.35
            for (action, actor, data), target in zip(_steps(users, units, checker, "已安排人员现场处置完毕"), TARGETS):
                clock[0] = clock[0] + dt.timedelta(hours=rnd.uniform(0.3, 30 if action == "feedback" else 6))
                if clock[0] > real_now:
                    break
                if joint and action == "dispatch":
                    data = {**data, "co_department_ids": [co_unit.pk]}
                if joint and action == "feedback":  # the co-handler's own feedback first; the lead's makes it handled
                    case = _co_handler(case, co_user, "feedback", "已配合清理现场，绿化养护到位")
                if action == "feedback" and rnd.random() < 0.08:
                    case = case_transition(actor=dept, case=case, action="postpone_request", expected_version=case.version,
                                           comment="需要协调产权单位", until=(case.deadline_at + dt.timedelta(days=3)).isoformat())
                    case = case_transition(actor=disp, case=case, action="postpone_approve", expected_version=case.version)
                case = case_transition(actor=actor, case=case, action=action, expected_version=case.version, **data)
                if joint and action == "accept":
                    case = _co_handler(case, co_user, "accept")
                if action == "feedback" and rnd.random() < 0.1:
                    case = case_transition(actor=checker, case=case, action="rework", expected_version=case.version,
                                           comment="现场复查仍未处理到位")
                    if joint:  # rework sends every department that gave feedback back to work
                        case = _co_handler(case, co_user, "feedback", "已配合返工处理")
                    case = case_transition(actor=dept, case=case, action="feedback", expected_version=case.version,
                                           comment="已返工处理")
                if target == stop:
                    break
            if case.state == "closed" and source in ("hotline", "resident") and rnd.random() < 0.7:
                case = case_transition(actor=disp, case=case, action="follow_up", expected_version=case.version,
                                       satisfaction=rnd.choice([5, 5, 4, 4, 3, 2]), comment="电话回访")
            if case.state in ("accepted", "dispatched") and rnd.random() < 0.15:
                case_transition(actor=users["demo-leader"], case=case, action="supervise", expected_version=case.version,
                                comment="请加快处置进度")
    made += _merged_reports(sub, disp)
    return made


def deadlines_settled(*, sub, units, users, seed: int = 2020) -> None:
    """After every chapter's demo: the inspection findings handled as the centre would have handled them, what
    the deadline check finds in this history (alerts, 超期自动督办) raised now rather than at the first page, and
    the simulated months' notifications marked as seen."""
    from jiedao.cases.tasks import check_deadlines

    _findings_handled(sub, units, users, random.Random(seed + 7))
    check_deadlines(escalate_limit=1000)
    # After the notifications, which are written when the demo's transaction commits.
    transaction.on_commit(_history_read)


def _findings_handled(sub, units, users, rnd) -> None:
    """The cases the inspection history opened went their way through the centre and the departments: all but the
    last days' are closed, the recent ones spread over the workflow (each step at its time in the history)."""
    disp, gw = users["demo-dispatcher"], users["demo-grid-worker"]
    gw_grids = set(gw.grid_assignments.values_list("grid_id", flat=True))
    real_now = timezone.now()
    # Ties broken by id: the failed items of one inspection share its time, and the seed must give the same data.
    for case in Case.objects.filter(subdistrict=sub, source="inspection", state="reported").order_by("reported_at",
                                                                                                     "id"):
        age_days = (real_now - case.reported_at).days
        if age_days < 2 or case.category_id is None:
            continue
        stop = "closed" if age_days > 10 else rnd.choice(TARGETS[1:])
        clock = [case.reported_at]
        checker = gw if case.grid_id in gw_grids else disp
        with mock.patch("django.utils.timezone.now", lambda clock=clock: clock[0]):
            for (action, actor, data), target in zip(_steps(users, units, checker, "已按巡查意见整改完毕"), TARGETS):
                clock[0] = clock[0] + dt.timedelta(hours=rnd.uniform(0.5, 20 if action == "feedback" else 5))
                if clock[0] > real_now:
                    break
                case = case_transition(actor=actor, case=case, action=action, expected_version=case.version, **data)
                if target == stop:
                    break


def _history_read(unread: int = 5) -> None:
    """The simulated months' notifications were seen at the time: each user keeps only the newest few unread."""
    from jiedao.kernel.models import Notification

    for user_id in Notification.objects.filter(read_at=None).order_by().values_list("recipient_id", flat=True) \
            .distinct():
        keep = Notification.objects.filter(recipient_id=user_id, read_at=None).order_by("-created_at", "-id") \
            .values_list("id", flat=True)[:unread]
        Notification.objects.filter(recipient_id=user_id, read_at=None).exclude(id__in=list(keep)) \
            .update(read_at=timezone.now())


def _merged_reports(sub, disp) -> int:
    """Residents who reported a problem already in hand: each report merged into the case it repeats (GOV-2), its
    page following that case; one resident has rated the closed one."""
    from jiedao.cases.services.transitions import case_follow_up_public

    closed = Case.objects.filter(subdistrict=sub, state="closed").exclude(lat=None).order_by("-closed_at")[:2]
    in_hand = Case.objects.filter(subdistrict=sub, state="accepted").exclude(lat=None).order_by("-reported_at")[:1]
    made = 0
    for into in [*closed, *in_hand]:
        again = case_report(actor=None, subdistrict_id=sub.pk, intake=Intake(
            source="resident", description=f"{into.title}（居民再次反映）", category=into.category,
            lat=into.lat + 0.00002, lng=into.lng + 0.00002, reporter_name="市民"))
        case_transition(actor=disp, case=again, action="merge", expected_version=again.version,
                        duplicate_of_id=into.pk, comment="同一问题，合并办理")
        if made == 0:
            case_follow_up_public(token=again.public_token, satisfaction=5, comment="处理及时")
        made += 1
    return made
