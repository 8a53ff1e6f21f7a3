"""case_transition: the only writer of Case.state, driven by the table in workflow.py."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.kernel.alerts import alerts_resolve_for_subject
from jiedao.kernel.audit import audit_record
from jiedao.kernel.exceptions import ConflictError, DomainError, NotFound, PermissionDeniedError
from jiedao.kernel.models import OrgUnit
from jiedao.kernel.notify import notify
from jiedao.kernel.permissions import require_capability
from jiedao.kernel.pii.logging import redact
from jiedao.kernel.scoping import user_scope

from .. import workflow
from ..choices import OPEN_STATES, AssignmentRole, AssignmentState, CaseState, PhotoStage, Urgency
from ..error_codes import CaseErrorCode
from ..evaluation.figures import figures_track
from ..models import Case, CaseAssignment, CaseCategory, CaseEvent
from ..workflow import Action
from .intake import compute_deadline
from .photos import check_photos, photos_store

A = Action
S = CaseState
ACTIVE = (AssignmentState.DISPATCHED, AssignmentState.ACCEPTED, AssignmentState.FEEDBACK)


class Outcome:
    """What a handler decided: fields to set, data for the event; ``keep_state`` overrides the rule's target
    (a co-handler's step that does not move the whole case)."""

    def __init__(self, keep_state=False, fields=None, data=None, department=None, photo_stage=None, notify=None):
        self.keep_state = keep_state
        self.fields = fields or {}
        self.data = data or {}
        self.department = department
        self.photo_stage = photo_stage
        self.notify = notify  # (users, title)


def _require_comment(comment: str, what: str) -> str:
    comment = (comment or "").strip()
    if len(comment) < 2:
        raise DomainError(CaseErrorCode.REASON_REQUIRED, _("请填写%s。") % what, fields={"comment": _("请填写%s。") % what})
    return comment


def _actor_assignment(actor, case, states) -> CaseAssignment:
    """The assignment of the actor's department on this case (the department must be on the case)."""
    units = user_scope(actor).org_unit_ids
    mine = case.assignments.filter(department_id__in=units, state__in=states)
    # A department that is both lead and co-handler acts as the lead.
    assignment = mine.filter(role=AssignmentRole.LEAD).first() or mine.order_by("id").first()
    if assignment is None:
        raise DomainError(CaseErrorCode.NOT_ASSIGNED, _("本部门不是该案件的处置部门，或当前不能执行此操作。"), status=403)
    return assignment


def _department_users(unit_ids):
    from jiedao.kernel.models import User

    return User.objects.filter(memberships__org_unit_id__in=unit_ids, memberships__role="department_handler",
                               memberships__active=True, is_active=True).distinct()


def _centre_users(case):
    from jiedao.kernel.models import User

    return User.objects.filter(memberships__org_unit__subdistrict_id=case.subdistrict_id,
                               memberships__role="dispatcher", memberships__active=True, is_active=True).distinct()


# --- handlers -------------------------------------------------------------------------------------
def _register(actor, case, comment, data):
    fields = {"registered_at": timezone.now()}
    category_id = data.get("category_id")
    if category_id and category_id != case.category_id:
        category = CaseCategory.objects.filter(subdistrict_id=case.subdistrict_id, pk=category_id, is_leaf=True).first()
        if category is None:
            raise DomainError(CaseErrorCode.CATEGORY_NOT_FOUND, _("案件类别不存在。"))
        fields["category"] = category
        if not case.lead_department_id:
            fields["lead_department"] = category.default_department
    urgency = data.get("urgency") or case.urgency
    if urgency not in Urgency.values:
        raise DomainError("invalid_urgency", _("紧急程度不正确。"))
    fields["urgency"] = urgency
    if ("category" in fields or urgency != case.urgency) and not _deadline_bound(case):
        fields["deadline_at"] = compute_deadline(subdistrict_id=case.subdistrict_id,
                                                 category=fields.get("category", case.category), urgency=urgency,
                                                 start=case.reported_at)
    if not (fields.get("category") or case.category_id):
        raise DomainError(CaseErrorCode.CATEGORY_REQUIRED, _("立案前请选择案件类别。"))
    return Outcome(fields=fields)


def _deadline_bound(case) -> bool:
    """The source set the deadline (a 12345 order's 办结时限 binds the sub-district): registering keeps it."""
    return case.events.filter(action="report", data__has_key="deadline").exists()


def _reject(actor, case, comment, data):
    _require_comment(comment, _("不予立案的理由"))
    return Outcome(fields={"closed_at": timezone.now()})


def _merge(actor, case, comment, data):
    target = Case.objects.visible_to(actor).filter(pk=data.get("duplicate_of_id"), subdistrict_id=case.subdistrict_id) \
        .exclude(pk=case.pk).exclude(state__in=[S.MERGED, S.REJECTED]).first()
    if target is None:
        raise DomainError(CaseErrorCode.DUPLICATE_TARGET_INVALID, _("请选择要合并到的案件。"))
    return Outcome(fields={"duplicate_of": target, "closed_at": timezone.now()}, data={"into": target.number})


def _dispatch(actor, case, comment, data):
    lead_id = data.get("lead_department_id") or case.lead_department_id
    co_ids = [i for i in (data.get("co_department_ids") or []) if i != lead_id]
    units = {u.pk: u for u in OrgUnit.objects.filter(subdistrict_id=case.subdistrict_id, kind="department",
                                                      pk__in=[lead_id, *co_ids], active=True)}
    if lead_id not in units or any(i not in units for i in co_ids):
        raise DomainError(CaseErrorCode.DEPARTMENT_REQUIRED, _("请选择处置部门。"),
                          fields={"lead_department_id": _("请选择处置部门。")})
    case.assignments.filter(state__in=ACTIVE).update(state=AssignmentState.CANCELLED)
    CaseAssignment.objects.create(subdistrict_id=case.subdistrict_id, case=case, department=units[lead_id],
                                  role=AssignmentRole.LEAD)
    for i in co_ids:
        CaseAssignment.objects.create(subdistrict_id=case.subdistrict_id, case=case, department=units[i],
                                      role=AssignmentRole.CO)
    return Outcome(fields={"lead_department": units[lead_id], "dispatched_at": timezone.now()},
                   data={"lead": units[lead_id].name, "co": [units[i].name for i in co_ids]},
                   notify=(_department_users([lead_id, *co_ids]), _("新派遣案件 %s") % case.number))


def _accept(actor, case, comment, data):
    assignment = _actor_assignment(actor, case, [AssignmentState.DISPATCHED])
    CaseAssignment.objects.filter(pk=assignment.pk).update(state=AssignmentState.ACCEPTED, accepted_at=timezone.now())
    lead_accepted = assignment.role == AssignmentRole.LEAD or case.assignments.filter(
        role=AssignmentRole.LEAD, state__in=[AssignmentState.ACCEPTED, AssignmentState.FEEDBACK]).exists()
    return Outcome(keep_state=not lead_accepted, department=assignment.department)


def _return(actor, case, comment, data):
    _require_comment(comment, _("退回理由"))
    assignment = _actor_assignment(actor, case, [AssignmentState.DISPATCHED])
    if assignment.role == AssignmentRole.CO:  # a co-handler steps out; the case goes on
        CaseAssignment.objects.filter(pk=assignment.pk).update(state=AssignmentState.RETURNED)
        return Outcome(keep_state=True, department=assignment.department, data={"co_handler": True})
    # The lead returns the case to the centre: its own assignment is returned; the co-handlers' end with the
    # dispatch, cancelled (the evaluation counts a return only against the department that made it).
    CaseAssignment.objects.filter(pk=assignment.pk).update(state=AssignmentState.RETURNED)
    case.assignments.filter(state__in=ACTIVE).exclude(pk=assignment.pk).update(state=AssignmentState.CANCELLED)
    return Outcome(fields={"return_count": case.return_count + 1}, department=assignment.department,
                   notify=(_centre_users(case), _("案件 %s 被退回") % case.number))


def _feedback(actor, case, comment, data):
    text = _require_comment(comment, _("处置结果"))
    assignment = _actor_assignment(actor, case, [AssignmentState.ACCEPTED])
    CaseAssignment.objects.filter(pk=assignment.pk).update(state=AssignmentState.FEEDBACK, feedback=text,
                                                           feedback_at=timezone.now())
    pending = case.assignments.filter(state__in=[AssignmentState.DISPATCHED, AssignmentState.ACCEPTED]) \
        .exclude(pk=assignment.pk).exists()
    if pending:
        return Outcome(keep_state=True, department=assignment.department, photo_stage=PhotoStage.FEEDBACK,
                       data={"waiting_for_others": True})
    return Outcome(fields={"handled_at": timezone.now()}, department=assignment.department,
                   photo_stage=PhotoStage.FEEDBACK)


def _verify(actor, case, comment, data):
    return Outcome(fields={"verified_at": timezone.now()}, photo_stage=PhotoStage.VERIFY)


def _rework(actor, case, comment, data):
    _require_comment(comment, _("核查不通过的原因"))
    case.assignments.filter(state=AssignmentState.FEEDBACK).update(state=AssignmentState.ACCEPTED)
    return Outcome(fields={"rework_count": case.rework_count + 1, "handled_at": None}, photo_stage=PhotoStage.VERIFY,
                   notify=(_department_users(list(case.assignments.filter(state=AssignmentState.ACCEPTED)
                                                  .values_list("department_id", flat=True))),
                           _("案件 %s 核查未通过，需返工") % case.number))


def _close(actor, case, comment, data):
    return Outcome(fields={"closed_at": timezone.now()})


def _parse_until(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise DomainError(CaseErrorCode.POSTPONE_DATE_INVALID, _("延期时间格式不正确。")) from exc
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def _postpone_request(actor, case, comment, data):
    _require_comment(comment, _("延期理由"))
    assignment = _actor_assignment(actor, case, [AssignmentState.DISPATCHED, AssignmentState.ACCEPTED])
    until = _parse_until(data.get("until"))
    if case.deadline_at and until <= case.deadline_at:
        raise DomainError(CaseErrorCode.POSTPONE_DATE_INVALID, _("延期后的时限应晚于当前时限。"))
    return Outcome(fields={"postpone_requested_until": until}, department=assignment.department,
                   data={"until": until.isoformat()},
                   notify=(_centre_users(case), _("案件 %s 申请延期") % case.number))


def _postpone_approve(actor, case, comment, data):
    alerts_resolve_for_subject(subject_type="cases.case", subject_id=str(case.pk))
    return Outcome(fields={"deadline_at": case.postpone_requested_until, "postpone_requested_until": None,
                           "postponed": True}, data={"deadline": case.postpone_requested_until.isoformat()})


def _postpone_reject(actor, case, comment, data):
    _require_comment(comment, _("不同意延期的理由"))
    return Outcome(fields={"postpone_requested_until": None})


def _supervise(actor, case, comment, data):
    _require_comment(comment, _("督办意见"))
    level = min(max(int(data.get("level") or case.supervision_level + 1), case.supervision_level + 1), 3)
    # Those who owe the next step: the departments on the case, or, where none is (not yet dispatched, returned,
    # or waiting for verification and closing), the centre.
    owing = [] if case.state in (S.HANDLED, S.VERIFIED) else \
        list(case.assignments.filter(state__in=ACTIVE).values_list("department_id", flat=True))
    users = _department_users(owing) if owing else _centre_users(case)
    return Outcome(fields={"supervision_level": level}, data={"level": level},
                   notify=(users, _("案件 %s 被督办（%d级）") % (case.number, level)))


def case_escalate_overdue(*, case: Case, level: int, working_days_overdue: int) -> Case:
    """超期自动督办 (GOV-3): the deadline check raises an overdue case's supervision level, as a supervise
    transition of the system (event, audit record, the departments notified)."""
    return case_transition(actor=None, case=case, action=A.SUPERVISE, expected_version=case.version, system=True,
                           actor_label=_("系统（超期自动督办）"), level=level,
                           comment=_("超过处置时限 %d 个工作日，自动升级为%d级督办。") % (working_days_overdue, level)
                           if working_days_overdue else _("超过处置时限，自动%d级督办。") % level)


def _follow_up(actor, case, comment, data):
    try:
        satisfaction = int(data.get("satisfaction"))
    except (TypeError, ValueError):
        satisfaction = 0
    if not 1 <= satisfaction <= 5:
        raise DomainError(CaseErrorCode.SATISFACTION_INVALID, _("满意度应为1到5。"))
    return Outcome(fields={"satisfaction": satisfaction, "follow_up_note": (comment or "")[:1000]},
                   data={"satisfaction": satisfaction, "by": data.get("by", "staff")})


HANDLERS = {
    A.REGISTER: _register, A.REJECT: _reject, A.MERGE: _merge, A.DISPATCH: _dispatch, A.ACCEPT: _accept,
    A.RETURN: _return, A.FEEDBACK: _feedback, A.VERIFY: _verify, A.REWORK: _rework, A.CLOSE: _close,
    A.POSTPONE_REQUEST: _postpone_request, A.POSTPONE_APPROVE: _postpone_approve,
    A.POSTPONE_REJECT: _postpone_reject, A.SUPERVISE: _supervise, A.FOLLOW_UP: _follow_up,
}
assert set(HANDLERS) == {r.action for r in workflow.TRANSITIONS}


@transaction.atomic
def case_transition(*, actor, case: Case, action: str, expected_version: int, comment: str = "", photos=(),
                    system: bool = False, actor_label: str = "", photos_required: bool = False, **data) -> Case:
    """Apply one workflow action; the only writer of Case.state.

    ``expected_version`` is the version the caller saw: if the case changed since, nothing is written (409).
    ``system=True`` is for the engine's own callers (the public follow-up page, the deadline check); it skips the
    capability check. ``actor_label``: who the timeline shows when there is no user. ``photos_required``: the
    caller's form asks for a photo (the case page's feedback); checked after who may act and whether they may now.
    """
    locked = Case.objects.select_for_update().filter(pk=case.pk).first()
    if locked is None:
        raise NotFound("not_found", _("案件不存在。"))
    # Who may act comes first: a caller outside the case's scope learns nothing of its version or state.
    capability = workflow.capability_of(action)
    if not system and capability:
        require_capability(actor, capability, obj=locked)
    if locked.version != expected_version:
        raise ConflictError(CaseErrorCode.STALE_VERSION, _("案件已被他人更新，请刷新后重试。"))
    rule = workflow.rule_for(locked.state, action)
    if rule is None:
        raise ConflictError(CaseErrorCode.TRANSITION_NOT_ALLOWED,
                            _("案件当前状态（%s）不能执行该操作。") % S(locked.state).label)
    if not rule.guard_holds(actor, locked):
        guard = rule.guard
        if guard.status == 409:
            raise ConflictError(guard.code, str(guard.message))
        if guard.status == 403:  # audited as a refusal, like a missing capability
            raise PermissionDeniedError(guard.code, str(guard.message), capability=rule.capability, obj=locked,
                                        actor=actor)
        raise DomainError(guard.code, str(guard.message), status=guard.status)
    if photos_required and not photos:
        raise DomainError(CaseErrorCode.PHOTO_REQUIRED, _("请上传处置后的现场照片。"), fields={"photos": _("请上传照片。")})
    checked = check_photos(photos)
    # Phone and ID numbers typed into a comment are kept masked: the comment is shown to every reader of the case,
    # sent by SMS and audited; the reporter's own number is on the case, revealed with a reason.
    comment = redact(comment or "")
    tracked = figures_track(locked)  # 绩效考评: the case's share of the kept figures, before the change
    outcome = HANDLERS[rule.action](actor, locked, comment, data)
    if checked and not outcome.photo_stage:
        # Only feedback, verification and rework show the site; a photo sent with another action would be filed
        # as a report photo, which the public status page and Open311 show.
        raise DomainError("photos_not_allowed", _("该操作不能附照片。"))
    target = None if outcome.keep_state else rule.target
    from_state = locked.state
    before = {k: getattr(locked, k if not hasattr(v, "pk") else f"{k}_id") for k, v in outcome.fields.items()}
    for key, value in outcome.fields.items():
        setattr(locked, key, value)
    if target:
        locked.state = target
    locked.version = expected_version + 1
    locked.save()
    now = timezone.now()
    event = CaseEvent.objects.create(
        subdistrict_id=locked.subdistrict_id, case=locked, action=rule.action, from_state=from_state,
        to_state=locked.state, actor=actor, actor_name=str(actor) if actor else actor_label[:64],
        department=outcome.department,
        comment=(comment or "")[:2000], data=outcome.data, created_at=now,
    )
    if checked:
        photos_store(case=locked, event=event, stage=outcome.photo_stage, checked=checked)
    if from_state in OPEN_STATES and locked.state not in OPEN_STATES:
        # Closed, rejected or merged: its deadline alerts need nobody's attention any more. Before the case's audit
        # record, so that this transaction, like resolving an alert by hand, locks the alert row before the audit
        # log (one order of locks: no deadlock with someone resolving the alert at the same moment).
        alerts_resolve_for_subject(subject_type="cases.case", subject_id=str(locked.pk))
    changes = {"state": [from_state, locked.state], "version": [expected_version, locked.version]}
    for key, value in outcome.fields.items():
        after = value.pk if hasattr(value, "pk") else value
        changes[key] = [str(before.get(key)) if before.get(key) is not None else None,
                        str(after) if after is not None else None]
    audit_record(actor=actor, action=f"case.{rule.action}", obj=locked, reason=(comment or "")[:500], changes=changes)
    tracked.apply(locked)
    if outcome.notify:
        users, title = outcome.notify
        notify(users=users, title=title, body=(comment or "")[:200], url=f"/cases/{locked.pk}/")
    case.__dict__.update(locked.__dict__)
    return locked


def case_follow_up_public(*, token: str, satisfaction: int, comment: str = "") -> Case:
    """The reporter rates a closed case from the public page or Open311 (no account)."""
    case = Case.objects.filter(public_token=token).first() if token else None
    if case is None:
        raise NotFound("not_found", _("案件不存在。"))
    if case.satisfaction:  # a reporter rates once; staff follow-ups may add notes later
        raise DomainError(CaseErrorCode.SATISFACTION_INVALID, _("您已评价过该案件。"))
    return case_transition(actor=None, case=case, action=A.FOLLOW_UP, expected_version=case.version,
                           comment=comment, system=True, satisfaction=satisfaction, by="reporter")

