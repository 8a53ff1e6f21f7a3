import datetime as dt

import pytest

from jiedao.cases import workflow
from jiedao.cases.choices import CaseState
from jiedao.cases.models import Case, CaseEvent
from jiedao.cases.services import case_transition
from jiedao.kernel.exceptions import ConflictError, DomainError, PermissionDeniedError
from jiedao.kernel.models import AuditRecord

from .conftest import report

S = CaseState


def step(town, case, action, role, **data):
    case.refresh_from_db()
    return case_transition(actor=town.users[role], case=case, action=action, expected_version=case.version, **data)


def drive_to(town, case, state):
    """Take a new case along the main path until it is in ``state``."""
    path = [("register", "dispatcher", {}), ("dispatch", "dispatcher", {"lead_department_id": town.units["dept"].pk}),
            ("accept", "department_handler", {}), ("feedback", "department_handler", {"comment": "已清理完毕"}),
            ("verify", "grid_worker", {}), ("close", "dispatcher", {})]
    targets = [S.REGISTERED, S.DISPATCHED, S.ACCEPTED, S.HANDLED, S.VERIFIED, S.CLOSED]
    if state == S.REPORTED:
        return case
    for (action, role, data), target in zip(path, targets):
        step(town, case, action, role, **data)
        if target == state:
            return case
    raise AssertionError(state)


def test_the_main_path_from_report_to_close(cases_town):
    t = cases_town
    case = report(t)
    assert case.state == S.REPORTED and case.grid_id == t.grids[0].pk and case.deadline_at and case.number
    drive_to(t, case, S.CLOSED)
    case.refresh_from_db()
    assert case.state == S.CLOSED and case.version == 7
    assert [e.action for e in CaseEvent.objects.filter(case=case)] == [
        "report", "register", "dispatch", "accept", "feedback", "verify", "close"]
    assert AuditRecord.objects.filter(object_type="cases.case", object_id=str(case.pk)).count() == 7


REACHABLE = [S.REPORTED, S.REGISTERED, S.DISPATCHED, S.ACCEPTED, S.HANDLED, S.VERIFIED, S.CLOSED]


@pytest.mark.parametrize("state", REACHABLE)
def test_every_disallowed_action_leaves_nothing_behind(cases_town, state):
    t = cases_town
    case = drive_to(t, report(t), state)
    case.refresh_from_db()
    allowed = set(workflow.actions_from(state))
    events = CaseEvent.objects.count()
    audits = AuditRecord.objects.count()
    for action in workflow.Action:
        if action in allowed:
            continue
        with pytest.raises(ConflictError) as exc:
            case_transition(actor=t.users["dispatcher"], case=case, action=action, expected_version=case.version)
        assert exc.value.code == "transition_not_allowed"
    fresh = Case.objects.get(pk=case.pk)
    assert (fresh.state, fresh.version) == (case.state, case.version)
    assert CaseEvent.objects.count() == events and AuditRecord.objects.count() == audits


CAPABLE = {
    "register": {"dispatcher"}, "reject": {"dispatcher"}, "dispatch": {"dispatcher"},
    "accept": {"department_handler"}, "feedback": {"department_handler"}, "verify": {"dispatcher", "grid_worker"},
    "close": {"dispatcher"},
}


@pytest.mark.parametrize("action, state, data", [
    ("register", S.REPORTED, {}), ("reject", S.REPORTED, {"comment": "不属于城市管理范围"}),
    ("dispatch", S.REGISTERED, {"lead_department_id": None}), ("accept", S.DISPATCHED, {}),
    ("feedback", S.ACCEPTED, {"comment": "已处理"}), ("verify", S.HANDLED, {}), ("close", S.VERIFIED, {}),
])
@pytest.mark.parametrize("role", ["leader", "dispatcher", "department_handler", "grid_worker", "rc_staff",
                                  "system_admin", "audit_admin", "road_chief"])
def test_each_transition_is_allowed_only_to_its_roles(cases_town, action, state, data, role):
    t = cases_town
    case = drive_to(t, report(t), state)
    case.refresh_from_db()
    if action == "dispatch":
        data = {"lead_department_id": t.units["dept"].pk}
    version = case.version
    try:
        case_transition(actor=t.users[role], case=case, action=action, expected_version=version, **data)
        outcome = "ok"
    except (PermissionDeniedError, DomainError) as exc:
        outcome = exc.status
    if role in CAPABLE[action]:
        assert outcome == "ok"
    else:
        assert outcome in (403, 404)
        assert Case.objects.get(pk=case.pk).version == version


def test_stale_version_changes_nothing(cases_town):
    t = cases_town
    case = report(t)
    step(t, case, "register", "dispatcher")
    with pytest.raises(ConflictError) as exc:
        case_transition(actor=t.users["dispatcher"], case=case, action="dispatch", expected_version=1,
                        lead_department_id=t.units["dept"].pk)
    assert exc.value.code == "stale_version"
    assert Case.objects.get(pk=case.pk).state == S.REGISTERED


def test_return_goes_back_to_the_centre_and_can_be_redispatched(cases_town):
    t = cases_town
    case = drive_to(t, report(t), S.DISPATCHED)
    with pytest.raises(DomainError):
        step(t, case, "return", "department_handler")  # needs a reason
    step(t, case, "return", "department_handler", comment="不属于本部门职责")
    case.refresh_from_db()
    assert case.state == S.RETURNED and case.return_count == 1
    step(t, case, "dispatch", "dispatcher", lead_department_id=t.units["dept2"].pk)
    step(t, case, "accept", "dept2_handler")
    case.refresh_from_db()
    assert case.state == S.ACCEPTED
    with pytest.raises(DomainError):  # the first department is no longer on the case
        step(t, case, "feedback", "department_handler", comment="x处理")


def test_joint_handling_waits_for_every_department(cases_town):
    t = cases_town
    case = drive_to(t, report(t), S.REGISTERED)
    step(t, case, "dispatch", "dispatcher", lead_department_id=t.units["dept"].pk,
         co_department_ids=[t.units["dept2"].pk])
    step(t, case, "accept", "dept2_handler")
    case.refresh_from_db()
    assert case.state == S.DISPATCHED  # the lead has not accepted yet
    step(t, case, "accept", "department_handler")
    step(t, case, "feedback", "department_handler", comment="主办部门已处置")
    case.refresh_from_db()
    assert case.state == S.ACCEPTED  # the co-handler still owes feedback
    step(t, case, "feedback", "dept2_handler", comment="协办部门已处置")
    case.refresh_from_db()
    assert case.state == S.HANDLED
    assert sorted(case.assignments.values_list("role", "state")) == [("co", "feedback"), ("lead", "feedback")]


def test_rework_sends_it_back_to_the_department(cases_town):
    t = cases_town
    case = drive_to(t, report(t), S.HANDLED)
    step(t, case, "rework", "grid_worker", comment="现场仍有垃圾")
    case.refresh_from_db()
    assert case.state == S.ACCEPTED and case.rework_count == 1
    step(t, case, "feedback", "department_handler", comment="已再次清理")
    step(t, case, "verify", "grid_worker")
    assert Case.objects.get(pk=case.pk).state == S.VERIFIED


def test_postponement_is_requested_then_approved(cases_town):
    t = cases_town
    case = drive_to(t, report(t), S.ACCEPTED)
    case.refresh_from_db()
    until = case.deadline_at + dt.timedelta(days=3)
    step(t, case, "postpone_request", "department_handler", comment="需要采购配件", until=until.isoformat())
    step(t, case, "postpone_approve", "dispatcher")
    case.refresh_from_db()
    assert case.deadline_at == until and case.postponed and case.postpone_requested_until is None
    with pytest.raises(DomainError):
        step(t, case, "postpone_approve", "dispatcher")


def test_supervision_raises_the_level_and_notifies(cases_town, django_capture_on_commit_callbacks):
    from jiedao.kernel.models import Notification

    t = cases_town
    case = drive_to(t, report(t), S.ACCEPTED)
    with django_capture_on_commit_callbacks(execute=True):
        step(t, case, "supervise", "leader", comment="请加快处置")
    case.refresh_from_db()
    assert case.supervision_level == 1
    assert Notification.objects.filter(recipient=t.users["department_handler"], title__contains="督办").exists()


def test_follow_up_records_satisfaction(cases_town):
    t = cases_town
    case = drive_to(t, report(t), S.CLOSED)
    with pytest.raises(DomainError):
        step(t, case, "follow_up", "dispatcher", satisfaction=9)
    step(t, case, "follow_up", "dispatcher", satisfaction=4, comment="电话回访，满意")
    assert Case.objects.get(pk=case.pk).satisfaction == 4


def test_merge_into_a_flagged_duplicate(cases_town):
    t = cases_town
    first = report(t)
    second = report(t, lat=31.3351, lng=121.5051)
    assert second.duplicate_candidates == [first.pk]
    step(t, second, "merge", "dispatcher", duplicate_of_id=first.pk)
    second.refresh_from_db()
    assert second.state == S.MERGED and second.duplicate_of_id == first.pk


def test_a_jointly_handled_case_is_listed_once(cases_town):
    from jiedao.kernel.models import User
    from jiedao.kernel.services import membership_grant

    t = cases_town
    case = drive_to(t, report(t), S.REGISTERED)
    step(t, case, "dispatch", "dispatcher", lead_department_id=t.units["dept"].pk,
         co_department_ids=[t.units["dept2"].pk])
    office_handler = User.objects.create_user(username="office-handler", password="x-Y-12345")
    membership_grant(actor=None, user=office_handler, org_unit=t.units["office"], role="department_handler")
    for user in (office_handler, t.users["grid_worker"], t.users["dispatcher"]):
        assert list(Case.objects.visible_to(user).values_list("pk", flat=True)) == [case.pk]
