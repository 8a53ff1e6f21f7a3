import datetime as dt
import sys
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.test import Client

from conftest import ROLE_HOME, Town, build_town
from jiedao.cases import workflow
from jiedao.cases.categories import categories_load
from jiedao.cases.choices import CaseState
from jiedao.cases.models import Case, CaseAssignment, CaseCategory, CaseEvent
from jiedao.cases.services import case_transition
from jiedao.cases.views_support import allowed_actions
from jiedao.kernel.exceptions import ConflictError, DomainError, NotFound, PermissionDeniedError
from jiedao.kernel.models import AuditRecord, User
from jiedao.kernel.roles import ROLES, Cap

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
        with pytest.raises(ConflictError) as exc:  # system: the state decides, not whether the actor may
            case_transition(actor=t.users["dispatcher"], case=case, action=action, expected_version=case.version,
                            system=True)
        assert exc.value.code == "transition_not_allowed"
    fresh = Case.objects.get(pk=case.pk)
    assert (fresh.state, fresh.version) == (case.state, case.version)
    assert CaseEvent.objects.count() == events and AuditRecord.objects.count() == audits


# --- every action × every role ------------------------------------------------------------------------------------
A = workflow.Action
RULES = {rule.action: rule for rule in workflow.TRANSITIONS}
OK = "ok"
HOME, OTHER_DEPARTMENT, OTHER_TOWN = "home", "other_department", "other_town"

# Who tries each action: every role of the case's sub-district, the staff of the other residents committee, the
# handler of a department the case is not dispatched to, and all of them again in another sub-district.
# (user key in Town.users, role, where they stand to the case)
_ACTORS = [*((key, key, HOME) for key in ROLE_HOME),
           ("rc2_staff", "rc_staff", HOME), ("dept2_handler", "department_handler", OTHER_DEPARTMENT)]
WHO = [pytest.param((town, key, role, where if town == "home" else OTHER_TOWN), id=f"{town}-{key}")
       for town in ("home", "other_town") for key, role, where in _ACTORS]


def expected(action, role, where):
    """What workflow.py and roles.py promise: OK, 403 (the role lacks the rule's capability) or 404 (the case is
    outside the actor's scope: another sub-district, or a department the case was not dispatched to)."""
    if RULES[action].capability not in ROLES[role].caps:
        return 403  # checked before the scope: whoever lacks the capability learns nothing about the case either
    return OK if where == HOME else 404


# A second truth, written by hand: who may take each action. The matrix below derives its expectations from the two
# tables, so a wrong capability in workflow.py or a wrong role in roles.py would move the expectation along with the
# behaviour; only this catches it. Every other role (the administrators, rc_staff, the specialists and chiefs) only
# reports and must not move a case.
MAY = {
    A.REGISTER: {"dispatcher"}, A.REJECT: {"dispatcher"}, A.MERGE: {"dispatcher"}, A.DISPATCH: {"dispatcher"},
    A.ACCEPT: {"department_handler"}, A.RETURN: {"department_handler"}, A.FEEDBACK: {"department_handler"},
    A.VERIFY: {"dispatcher", "grid_worker"}, A.REWORK: {"dispatcher", "grid_worker"}, A.CLOSE: {"dispatcher"},
    A.POSTPONE_REQUEST: {"department_handler"}, A.POSTPONE_APPROVE: {"dispatcher"},
    A.POSTPONE_REJECT: {"dispatcher"}, A.SUPERVISE: {"leader", "dispatcher"}, A.FOLLOW_UP: {"dispatcher"},
}


def test_the_matrix_covers_every_action_and_role():
    assert set(MAY) == set(A) == set(RULES)
    assert set(ROLE_HOME) == set(ROLES)


@pytest.mark.parametrize("action", list(A), ids=str)
def test_the_tables_give_each_action_to_the_roles_meant(action):
    assert {role for role in ROLES if expected(action, role, HOME) == OK} == MAY[action]


@dataclass
class Matrix:
    towns: dict[str, Town]
    cases: dict[str, int]  # action → a case in a state (and with the data) from which the action is allowed
    data: dict[str, dict]  # action → what the action is called with


def _matrix_world() -> Matrix:
    home = build_town("WM", "矩阵街道", 121.70, 31.40, 3)
    other = build_town("WN", "邻街道", 121.80, 31.50, 4)
    categories_load(actor=None, subdistrict=home.sub, departments={"城管中队": home.units["dept"]},
                    urgent_hours=4, normal_days=3)
    home.category = CaseCategory.objects.get(subdistrict=home.sub, kind="event", code="06010")

    def case_in(state, lat=31.405):  # in the first grid, the grid worker's and the first committee's
        return drive_to(home, report(home, lat=lat, lng=121.705), state)

    cases, data = {}, {}

    def prepare(action, case, **kw):
        case.refresh_from_db()
        assert workflow.rule_for(case.state, action), (action, case.state)
        cases[action], data[action] = case.pk, kw

    prepare(A.REGISTER, case_in(S.REPORTED))
    prepare(A.REJECT, case_in(S.REPORTED), comment="不属于城市管理范围")
    first = case_in(S.REGISTERED, lat=31.408)
    duplicate = case_in(S.REPORTED, lat=31.4081)
    assert first.pk in duplicate.duplicate_candidates
    prepare(A.MERGE, duplicate, duplicate_of_id=first.pk)
    prepare(A.DISPATCH, case_in(S.REGISTERED), lead_department_id=home.units["dept"].pk)
    prepare(A.ACCEPT, case_in(S.DISPATCHED))
    prepare(A.RETURN, case_in(S.DISPATCHED), comment="不属于本部门职责")
    prepare(A.FEEDBACK, case_in(S.ACCEPTED), comment="已清理完毕")
    prepare(A.VERIFY, case_in(S.HANDLED))
    prepare(A.REWORK, case_in(S.HANDLED), comment="现场仍有垃圾")
    prepare(A.CLOSE, case_in(S.VERIFIED))
    asked = case_in(S.ACCEPTED)
    prepare(A.POSTPONE_REQUEST, asked, comment="需要采购配件",
            until=(asked.deadline_at + dt.timedelta(days=3)).isoformat())
    for action, kw in ((A.POSTPONE_APPROVE, {}), (A.POSTPONE_REJECT, {"comment": "时限内可以完成"})):
        pending = case_in(S.ACCEPTED)
        step(home, pending, A.POSTPONE_REQUEST, "department_handler", comment="需要采购配件",
             until=(pending.deadline_at + dt.timedelta(days=3)).isoformat())
        prepare(action, pending, **kw)
    prepare(A.SUPERVISE, case_in(S.ACCEPTED), comment="请加快处置")
    prepare(A.FOLLOW_UP, case_in(S.CLOSED), satisfaction=4, comment="电话回访，满意")
    return Matrix(towns={"home": home, "other_town": other}, cases=cases, data=data)


@pytest.fixture(scope="module")
def matrix(django_db_setup, django_db_blocker):
    """One world for the 390 cells, built once: each cell runs in its test's own savepoint inside this transaction,
    so an allowed action is undone before the next cell. Rolled back at the end of the module (other codes than the
    `town` fixtures, so the function-scoped tests of this module can build theirs inside it)."""
    with django_db_blocker.unblock():
        block = transaction.atomic()
        block.__enter__()
        try:
            world = _matrix_world()
        except BaseException:
            block.__exit__(*sys.exc_info())
            raise
    try:
        yield world
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            block.__exit__(None, None, None)


def _written(case_pk):
    """Everything a transition writes: the case and its assignments, the events and audit records."""
    return {
        "case": Case.objects.filter(pk=case_pk).values().get(),
        "assignments": list(CaseAssignment.objects.filter(case_id=case_pk).order_by("id").values()),
        "last_event": CaseEvent.objects.order_by("-id").values_list("id", flat=True).first(),
        "last_audit": AuditRecord.objects.order_by("-seq").values_list("seq", flat=True).first(),
    }


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("action", list(A), ids=str)
def test_each_transition_is_allowed_only_to_its_roles(matrix, db, action, who):
    town, key, role, where = who
    home = matrix.towns["home"]
    actor = User.objects.get(pk=matrix.towns[town].users[key].pk)
    case = Case.objects.get(pk=matrix.cases[action])
    rule, want = RULES[action], expected(action, role, where)
    before = _written(case.pk)
    if want != 404:  # the case's page offers the action to exactly those who may take it
        assert (str(action) in allowed_actions(actor, case)) == (want == OK)

    try:
        case_transition(actor=actor, case=case, action=action, expected_version=case.version, **matrix.data[action])
        outcome = OK
    except DomainError as exc:
        outcome = exc

    if want == OK:
        assert outcome == OK, f"refused: {outcome!r} ({getattr(outcome, 'code', '')})"
        source, target = before["case"]["state"], rule.target or before["case"]["state"]
        fresh = Case.objects.get(pk=case.pk)
        assert (fresh.state, fresh.version) == (target, before["case"]["version"] + 1)
        department = home.units["dept"].pk if rule.capability == Cap.CASES_HANDLE else None
        assert list(CaseEvent.objects.filter(pk__gt=before["last_event"] or 0).values_list(
            "case_id", "action", "from_state", "to_state", "actor_id", "department_id")) == [
            (case.pk, str(action), source, target, actor.pk, department)]
        assert list(AuditRecord.objects.filter(seq__gt=before["last_audit"] or 0).values_list(
            "action", "object_id", "actor_id")) == [(f"case.{action}", str(case.pk), actor.pk)]
        return
    refusal = PermissionDeniedError if want == 403 else NotFound
    assert type(outcome) is refusal and outcome.status == want, f"wanted {want}, got {outcome!r}"
    if want == 403:
        assert outcome.capability == rule.capability
    assert _written(case.pk) == before
    if where != HOME:  # through the API, as such a user would try it: not found, whatever the capabilities
        client = Client()
        client.force_login(actor)
        before = _written(case.pk)
        r = client.post(f"/api/v1/cases/{case.pk}/{action}", {"version": case.version, **matrix.data[action]},
                        content_type="application/json")
        assert r.status_code == 404, r.content
        assert _written(case.pk) == before


HANDLE_ACTIONS = [rule.action for rule in workflow.TRANSITIONS if rule.capability == Cap.CASES_HANDLE]


@pytest.mark.parametrize("action", HANDLE_ACTIONS, ids=str)
def test_a_department_that_stepped_out_still_sees_the_case_but_may_not_act(cases_town, action):
    """The matrix's other department does not see the case at all (404); this one does, as a co-handler that
    returned its part, so the handler's own guard (the department must be on the case) is what refuses it."""
    t = cases_town
    case = drive_to(t, report(t), S.REGISTERED)
    step(t, case, "dispatch", "dispatcher", lead_department_id=t.units["dept"].pk,
         co_department_ids=[t.units["dept2"].pk])
    step(t, case, "return", "dept2_handler", comment="不属于本部门职责")
    if action == A.FEEDBACK:
        step(t, case, "accept", "department_handler")
    case.refresh_from_db()
    assert Case.objects.visible_to(t.users["dept2_handler"]).filter(pk=case.pk).exists()
    assert str(action) not in allowed_actions(t.users["dept2_handler"], case)
    before = _written(case.pk)
    data = {"comment": "本部门已处置", "until": (case.deadline_at + dt.timedelta(days=3)).isoformat()}
    with pytest.raises(DomainError) as exc:
        step(t, case, action, "dept2_handler", **data)
    assert (exc.value.status, exc.value.code) == (403, "not_assigned")
    assert _written(case.pk) == before


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


def test_photos_go_only_with_the_actions_that_show_the_site(cases_town):
    """A photo sent with accept (or any action but feedback, verify and rework) is refused: it would be filed as a
    report photo, which the public page shows."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from jiedao.kernel.exceptions import DomainError

    from .test_intake import jpeg

    t = cases_town
    case = drive_to(t, report(t), S.DISPATCHED)
    case.refresh_from_db()
    with pytest.raises(DomainError) as exc:
        case_transition(actor=t.users["department_handler"], case=case, action="accept",
                        expected_version=case.version, photos=(SimpleUploadedFile("a.jpg", jpeg()),))
    assert exc.value.code == "photos_not_allowed"
    fresh = Case.objects.get(pk=case.pk)
    assert (fresh.state, fresh.version, fresh.photos.count()) == (S.DISPATCHED, case.version, 0)


def test_supervision_reaches_whoever_owes_the_next_step(cases_town, django_capture_on_commit_callbacks):
    """The departments on the case; where there is none (not yet dispatched) or the case waits for the centre's
    verification and closing, the centre."""
    from jiedao.kernel.models import Notification

    t = cases_town
    waiting = report(t)
    with django_capture_on_commit_callbacks(execute=True):
        step(t, waiting, "supervise", "leader", comment="请尽快立案派遣")
    assert Notification.objects.filter(recipient=t.users["dispatcher"], title__contains=waiting.number).exists()
    assert not Notification.objects.filter(recipient=t.users["department_handler"],
                                           title__contains=waiting.number).exists()
    held = drive_to(t, report(t, lat=31.3360, lng=121.5070, description="井盖缺失"), S.ACCEPTED)
    with django_capture_on_commit_callbacks(execute=True):
        step(t, held, "supervise", "leader", comment="请加快处置")
    assert Notification.objects.filter(recipient=t.users["department_handler"], title__contains=held.number).exists()
