"""绩效考评 kept incrementally (GOV-4): the kept figures equal the live computation after every write."""

from __future__ import annotations

import collections
import datetime as dt
import json
import random
import time
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from jiedao.cases.choices import CaseState as S
from jiedao.cases.evaluation import evaluation, figures_live
from jiedao.cases.evaluation.figures import NONE_KEY, figures_check, figures_rebuild, figures_where
from jiedao.cases.models import AlarmSource, Case, EvaluationFigure
from jiedao.cases.services import case_transition
from jiedao.cases.services.alarms import alarm_receive, sign
from jiedao.cases.services.hotline import hotline_import
from jiedao.cases.services.transitions import case_follow_up_public
from jiedao.cases.workflow import Action, actions_from
from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.services import calendar_day_set, membership_grant

from .conftest import report

SH = dt.timezone(dt.timedelta(hours=8))


class Clock:
    """``timezone.now()`` under the test's control, so the writes spread over months, nights and weekends."""

    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, hours: float) -> None:
        self.now += dt.timedelta(hours=hours)


@pytest.fixture
def clock():
    c = Clock(timezone.now().replace(microsecond=123456) - dt.timedelta(days=80))
    with mock.patch("django.utils.timezone.now", c):
        yield c


def _months(t) -> list[str]:
    found = {timezone.localtime(m).strftime("%Y-%m") for m in Case.objects.values_list("reported_at", flat=True)}
    found |= {f"{m:%Y-%m}" for m in EvaluationFigure.objects.values_list("month", flat=True)}
    return sorted(found)


def _same_as_live(t) -> None:
    """The kept counters equal the live ones, and what a leader is shown (kept) equals the live rows."""
    assert figures_check() == []
    for month in _months(t):
        for by in ("department", "grid", "worker"):
            kept = [r.as_dict() for r in evaluation(user=t.users["leader"], month=month, by=by)]
            assert kept == [r.as_dict() for r in figures_live(user=t.users["leader"], month=month, by=by)]


def _attempts(t, rnd, case, action, cases):
    """Who may try ``action`` on ``case`` and with what (the first that the rules accept does it)."""
    u = t.users
    handlers = rnd.sample([u["department_handler"], u["dept2_handler"]], 2)
    verifiers = rnd.sample([u["grid_worker"], u["dispatcher"]], 2)
    if action == Action.MERGE:
        others = [c for c in cases if c.pk != case.pk]
        return [(u["dispatcher"], {"duplicate_of_id": rnd.choice(others).pk})] if others else []
    if action == Action.DISPATCH:
        lead, other = rnd.sample([t.units["dept"], t.units["dept2"]], 2)
        co = [other.pk] if rnd.random() < 0.4 else []
        return [(u["dispatcher"], {"lead_department_id": lead.pk, "co_department_ids": co})]
    if action == Action.POSTPONE_REQUEST:
        until = (case.deadline_at or timezone.now()) + dt.timedelta(days=3)
        return [(h, {"comment": "需要协调产权单位", "until": until.isoformat()}) for h in handlers]
    by_action = {
        Action.REGISTER: [(u["dispatcher"], {})],
        Action.REJECT: [(u["dispatcher"], {"comment": "不属于受理范围"})],
        Action.ACCEPT: [(h, {}) for h in handlers],
        Action.RETURN: [(h, {"comment": "非本部门职责"}) for h in handlers],
        Action.FEEDBACK: [(h, {"comment": "已处置完毕"}) for h in handlers],
        Action.VERIFY: [(v, {}) for v in verifiers],
        Action.REWORK: [(v, {"comment": "现场复查仍未处理到位"}) for v in verifiers],
        Action.CLOSE: [(u["dispatcher"], {})],
        Action.POSTPONE_APPROVE: [(u["dispatcher"], {})],
        Action.POSTPONE_REJECT: [(u["dispatcher"], {"comment": "时限内可以完成"})],
        Action.SUPERVISE: [(u["leader"], {"comment": "请加快处置进度"})],
        Action.FOLLOW_UP: [(u["dispatcher"], {"satisfaction": rnd.randint(1, 5), "comment": "电话回访"})],
    }
    return by_action[action]


def _transition(t, rnd, case, action, cases) -> bool:
    for actor, data in _attempts(t, rnd, case, action, cases):
        case.refresh_from_db()
        try:
            case_transition(actor=actor, case=case, action=action, expected_version=case.version, **data)
            return True
        except DomainError:
            continue
    return False


def _intake(t, rnd, kind: str, n: int, alarm_source) -> bool:
    now = timezone.now()
    if kind == "report":  # a grid worker in either grid, or with no location (no grid)
        where = rnd.choice([{"lat": 31.335, "lng": 121.505}, {"lat": 31.335, "lng": 121.515},
                            {"lat": None, "lng": None, "address": "政立路100号"}])
        report(t, description=f"问题 {n}", **where)
    elif kind == "resident":
        report(t, user=None, source="resident", description=f"居民反映 {n}", lat=31.3352, lng=121.5052)
    elif kind == "hotline":  # a work order received days ago: an earlier month than its handling
        received = now - dt.timedelta(days=rnd.uniform(0, 40))
        order = {"order_no": f"H{n}", "content": f"热线诉求 {n}", "received_at": received.isoformat(),
                 "category_name": "", "category_code": "06010"}
        if rnd.random() < 0.5:
            order |= {"lat": 31.3351, "lng": rnd.choice([121.5051, 121.5151])}
        if rnd.random() < 0.5:
            order["deadline"] = (now + dt.timedelta(days=rnd.uniform(-2, 4))).isoformat()
        result = hotline_import(actor=t.users["dispatcher"], subdistrict=t.sub, orders=[order])
        assert result.created, result.errors
    elif kind == "alarm":
        body = json.dumps({"alarm_id": f"A{n}", "type": "garbage", "lat": 31.3353, "lng": 121.5053}).encode()
        ts = str(int(time.time()))
        alarm_receive(source_code=alarm_source.code, timestamp=ts, signature=sign("s3cret", ts, body), body=body)
    return True


# Cases should mostly go forward, so that every state and action is reached.
WEIGHT = {Action.REJECT: 0.1, Action.MERGE: 0.1, Action.SUPERVISE: 0.3, Action.RETURN: 0.3, Action.REWORK: 0.4,
          Action.POSTPONE_REQUEST: 0.5, Action.POSTPONE_REJECT: 0.5}
EVERYTHING = {*(a.value for a in Action), "report", "resident", "hotline", "alarm", "public_follow_up"}


def test_kept_figures_equal_the_live_ones_after_every_write(cases_town, clock):
    """A long random run through every source and every transition, checked after each write."""
    t = cases_town
    rnd = random.Random(4)
    alarm_source = AlarmSource.objects.create(subdistrict=t.sub, code="xueliang-1", name="雪亮工程", secret="s3cret",
                                              category_map={"garbage": "06010"})
    done: set[str] = set()
    for n in range(230):
        clock.advance(rnd.uniform(0.3, 14))
        cases = list(Case.objects.exclude(state__in=[S.MERGED, S.REJECTED]).order_by("pk"))
        if not cases or rnd.random() < 0.22:
            kind = rnd.choice(["report", "report", "resident", "hotline", "alarm"])
            ok = _intake(t, rnd, kind, n, alarm_source)
        else:
            case = rnd.choice(cases)
            allowed = actions_from(case.state)
            if not allowed:
                continue
            kind = rnd.choices(allowed, weights=[WEIGHT.get(a, 1.0) for a in allowed])[0]
            if kind == Action.FOLLOW_UP and case.public_token and case.satisfaction is None and rnd.random() < 0.5:
                kind = "public_follow_up"
                case_follow_up_public(token=case.public_token, satisfaction=rnd.randint(1, 5), comment="满意")
                ok = True
            else:
                ok = _transition(t, rnd, case, kind, cases)
        if ok:
            done.add(str(kind))
            assert figures_check() == [], (n, kind)
    assert done >= EVERYTHING, (EVERYTHING - done, collections.Counter(Case.objects.values_list("state", flat=True)))
    assert len(_months(t)) >= 3  # the run spans months: reported in one, dispatched in the next
    _same_as_live(t)


def test_figures_follow_a_case_through_rework_and_postponement(cases_town, clock):
    """The handling time of a reworked case counts from its last feedback; on-time verification from it too."""
    from .test_workflow import drive_to, step

    t = cases_town
    case = drive_to(t, report(t), S.DISPATCHED)
    clock.advance(2)
    until = (case.deadline_at + dt.timedelta(days=3)).isoformat()
    step(t, case, "postpone_request", "department_handler", comment="需要协调", until=until)
    step(t, case, "postpone_approve", "dispatcher")
    step(t, case, "accept", "department_handler")
    clock.advance(30)
    step(t, case, "feedback", "department_handler", comment="已处置")
    clock.advance(1)
    step(t, case, "rework", "grid_worker", comment="未处理到位")
    _same_as_live(t)
    clock.advance(50)
    step(t, case, "feedback", "department_handler", comment="已返工")
    clock.advance(60)  # verified late
    step(t, case, "verify", "grid_worker")
    step(t, case, "close", "dispatcher")
    _same_as_live(t)
    row = evaluation(user=t.users["leader"], month=timezone.localtime(case.reported_at).strftime("%Y-%m"),
                     by="department")[0]
    assert (row.postponed, row.reworked, row.closed, row.handling_count) == (1, 1, 1, 1)


def test_a_calendar_change_rebuilds_the_months_it_touches(cases_town, clock):
    """Handling time across a day that becomes a holiday: the kept figures follow, via the kernel's service."""
    from .test_workflow import step

    t = cases_town
    # Monday 10:00 to Wednesday 10:00: 6 + 7.5 + 1.5 working hours, 7.5 of them on the Tuesday.
    while clock.now.astimezone(SH).weekday() != 0 or clock.now.astimezone(SH).hour != 10:
        clock.advance(1)
    case = report(t)
    step(t, case, "register", "dispatcher")
    step(t, case, "dispatch", "dispatcher", lead_department_id=t.units["dept"].pk)
    step(t, case, "accept", "department_handler")  # Monday 10:00
    clock.advance(48)
    step(t, case, "feedback", "department_handler", comment="已处置")  # Wednesday 10:00
    clock.advance(1)
    step(t, case, "verify", "grid_worker")
    month = timezone.localtime(case.reported_at).strftime("%Y-%m")
    before = evaluation(user=t.users["leader"], month=month, by="department")[0].mean_handling_hours
    tuesday = (clock.now.astimezone(SH) - dt.timedelta(days=1)).date()
    calendar_day_set(actor=None, date=tuesday, kind="holiday", name="测试假日")
    after = evaluation(user=t.users["leader"], month=month, by="department")[0].mean_handling_hours
    assert before - after == pytest.approx(7.5)  # a working day of office hours fewer
    _same_as_live(t)
    # A day still to come changes nothing (and costs nothing).
    calendar_day_set(actor=None, date=(clock.now + dt.timedelta(days=30)).date(), kind="holiday")
    _same_as_live(t)


def test_the_admin_calendar_form_is_followed_too(cases_town, clock, client_for):
    from jiedao.kernel.models import CalendarDay

    from .test_workflow import step

    t = cases_town
    while clock.now.astimezone(SH).weekday() != 0 or clock.now.astimezone(SH).hour != 10:
        clock.advance(1)
    case = report(t)
    step(t, case, "register", "dispatcher")
    step(t, case, "dispatch", "dispatcher", lead_department_id=t.units["dept"].pk)
    step(t, case, "accept", "department_handler")
    clock.advance(48)
    step(t, case, "feedback", "department_handler", comment="已处置")
    tuesday = (clock.now.astimezone(SH) - dt.timedelta(days=1)).date()
    admin = t.users["system_admin"]
    c = client_for(admin)
    r = c.post("/admin/kernel/calendarday/add/", {"date": tuesday.isoformat(), "kind": "holiday", "name": "假日"})
    assert r.status_code == 302, r.content.decode()[:500]
    _same_as_live(t)
    day = CalendarDay.objects.get(date=tuesday)
    r = c.post(f"/admin/kernel/calendarday/{day.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302
    _same_as_live(t)


def test_narrow_scopes_get_the_live_figures_of_their_slice(cases_town, other_town):
    from .test_workflow import drive_to

    t = cases_town
    drive_to(t, report(t), S.CLOSED)
    drive_to(t, report(t, user=t.users["dispatcher"], lat=31.335, lng=121.515, description="乱张贴"), S.HANDLED)
    month = timezone.localtime().strftime("%Y-%m")
    assert figures_where(t.users["leader"]) is not None and figures_where(t.users["dispatcher"]) is not None
    for narrow in ("department_handler", "dept2_handler", "grid_worker", "rc_staff"):
        assert figures_where(t.users[narrow]) is None
    # Wide in one sub-district and a member in another: the other's slice is not in the first one's figures.
    boss = t.users["leader"]
    membership_grant(actor=None, user=boss, org_unit=other_town.units["dept"], role="department_handler")
    from jiedao.kernel.scoping import invalidate_scope

    invalidate_scope(boss)
    assert figures_where(boss) is None
    # Prove which path answers: without the kept figures a dispatcher sees nothing, a department or a grid worker
    # still sees the figures of their own slice.
    EvaluationFigure.objects.all().delete()
    assert evaluation(user=t.users["dispatcher"], month=month, by="grid") == []
    grid_worker_rows = evaluation(user=t.users["grid_worker"], month=month, by="grid")
    assert [(r.label, r.reported) for r in grid_worker_rows] == [("T1-1 网格1", 1)]  # the worker's own grid only
    handler_rows = evaluation(user=t.users["department_handler"], month=month, by="department")
    assert [(r.label, r.dispatched) for r in handler_rows] == [("城管中队", 2)]


def test_rebuild_command_and_check(cases_town, capsys):
    from .test_workflow import drive_to

    t = cases_town
    drive_to(t, report(t), S.CLOSED)
    report(t, lat=None, lng=None, address="政立路100号")
    call_command("evaluation_rebuild", "--check")
    assert EvaluationFigure.objects.filter(dimension="worker", key=t.users["grid_worker"].pk).exists()
    assert EvaluationFigure.objects.filter(dimension="grid", key=NONE_KEY).exists()
    # A data fix behind the services' back: --check says so, a rebuild of the month repairs it.
    Case.objects.update(rework_count=1)
    with pytest.raises(CommandError):
        call_command("evaluation_rebuild", "--check")
    month = timezone.localtime().strftime("%Y-%m")
    call_command("evaluation_rebuild", "--month", month, "--subdistrict", t.sub.code)
    call_command("evaluation_rebuild", "--check", "--month", month)
    out = capsys.readouterr().out
    assert "rebuilt 1 month" in out and "same as the live figures" in out
    EvaluationFigure.objects.all().delete()
    call_command("evaluation_rebuild")
    call_command("evaluation_rebuild", "--check")
    with pytest.raises(CommandError):
        call_command("evaluation_rebuild", "--month", "2026-13")


def test_intake_adds_in_one_statement_without_reading(cases_town):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jiedao.cases.evaluation.figures import figures_case_reported

    t = cases_town
    case = report(t)
    with CaptureQueriesContext(connection) as ctx:
        figures_case_reported(case)
    assert len(ctx.captured_queries) == 1 and "INSERT" in ctx.captured_queries[0]["sql"]
    row = EvaluationFigure.objects.get(dimension="grid", key=t.grids[0].pk)
    assert row.reported == 2  # the report itself, and the call above once more


def test_figures_rebuild_is_idempotent(cases_town):
    from .test_workflow import drive_to

    t = cases_town
    drive_to(t, report(t), S.VERIFIED)
    before = sorted(EvaluationFigure.objects.values_list("dimension", "key", "reported", "verified", "handling_us"))
    figures_rebuild()
    figures_rebuild()
    after = sorted(EvaluationFigure.objects.values_list("dimension", "key", "reported", "verified", "handling_us"))
    assert before == after


def test_the_migration_cancels_co_assignments_that_a_lead_returned(cases_town):
    """Before 0013 a lead's return marked the co-handlers' assignments returned; the migration cancels those and
    leaves the co-handlers that stepped out themselves (their own return event) returned."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    from jiedao.cases.models import CaseAssignment

    from .conftest import report
    from .test_workflow import S, drive_to, step

    migration = importlib.import_module("jiedao.cases.migrations.0013_evaluation_co_handled")
    t = cases_town
    dept, dept2 = t.units["dept"], t.units["dept2"]
    by_lead, by_itself = (drive_to(t, report(t, lat=31.3352 + i * 0.002), S.REGISTERED) for i in range(2))
    for case in (by_lead, by_itself):
        step(t, case, "dispatch", "dispatcher", lead_department_id=dept.pk, co_department_ids=[dept2.pk])
    step(t, by_itself, "return", "dept2_handler", comment="不涉及本部门")
    step(t, by_lead, "return", "department_handler", comment="非本部门职责")
    CaseAssignment.objects.filter(case=by_lead, role="co").update(state="returned")  # as the old code left it
    migration.cancel_co_assignments_a_lead_returned(apps, SimpleNamespace(connection=connection))
    assert CaseAssignment.objects.get(case=by_lead, role="co").state == "cancelled"
    assert CaseAssignment.objects.get(case=by_itself, role="co").state == "returned"
