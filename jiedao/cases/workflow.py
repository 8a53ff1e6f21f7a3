"""The one transition table of the case workflow (GOV-2, GOV-3).

Each rule: the states an action may start from, the state it leads to
(``None``: the state stays, e.g. a supervision flag or a co-handler's
feedback that is not the last), the capability it needs, and its guard: a
condition on the case and the actor beyond state and capability (is the
actor's department on the case in the right step? is a postponement
pending?). ``case_transition`` checks all four before an action's handler
runs, and the pages offer an action only where all four hold. What an
action's own input must satisfy (a reason, a valid date, a target case) is
checked by its handler in services/transitions.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from .choices import AssignmentState as AS
from .choices import CaseState as S
from .error_codes import CaseErrorCode


class Action(StrEnum):
    REGISTER = "register"
    REJECT = "reject"
    MERGE = "merge"
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    RETURN = "return"
    FEEDBACK = "feedback"
    VERIFY = "verify"  # passed
    REWORK = "rework"  # verification failed
    CLOSE = "close"
    POSTPONE_REQUEST = "postpone_request"
    POSTPONE_APPROVE = "postpone_approve"
    POSTPONE_REJECT = "postpone_reject"
    SUPERVISE = "supervise"
    FOLLOW_UP = "follow_up"


@dataclass(frozen=True)
class Guard:
    """A condition ``check(actor, case)``, and the error when it does not hold."""

    check: Callable
    code: str
    message: str
    status: int


def _department_in_step(*states: str) -> Guard:
    def check(actor, case) -> bool:
        from jiedao.kernel.scoping import user_scope

        units = user_scope(actor).org_unit_ids if actor is not None else ()
        return case.assignments.filter(department_id__in=units, state__in=states).exists()

    return Guard(check, CaseErrorCode.NOT_ASSIGNED, _("本部门不是该案件的处置部门，或当前不能执行此操作。"), 403)


def _postponement_pending(actor, case) -> bool:
    return bool(case.postpone_requested_until)


def _rated_once_handled(actor, case) -> bool:
    """A report merged into another case is rated once that case is closed (its reporter's only outcome)."""
    if case.state != S.MERGED:
        return True
    from .selectors import case_merged_into

    return getattr(case_merged_into(case), "state", None) == S.CLOSED


DEPARTMENT_DISPATCHED = _department_in_step(AS.DISPATCHED)
DEPARTMENT_ACCEPTED = _department_in_step(AS.ACCEPTED)
DEPARTMENT_ON_IT = _department_in_step(AS.DISPATCHED, AS.ACCEPTED)
POSTPONEMENT_PENDING = Guard(_postponement_pending, CaseErrorCode.POSTPONE_NOT_REQUESTED,
                             _("该案件没有待审批的延期申请。"), 400)
MERGED_CASE_CLOSED = Guard(_rated_once_handled, CaseErrorCode.TRANSITION_NOT_ALLOWED,
                           _("合并办理的案件尚未办结，办结后可以评价。"), 409)


@dataclass(frozen=True)
class Rule:
    sources: frozenset[str]
    action: Action
    target: str | None
    capability: str
    guard: Guard | None = None

    def guard_holds(self, actor, case) -> bool:
        return self.guard is None or bool(self.guard.check(actor, case))


_OPEN = frozenset({S.REPORTED, S.REGISTERED, S.DISPATCHED, S.RETURNED, S.ACCEPTED, S.HANDLED, S.VERIFIED})

TRANSITIONS: tuple[Rule, ...] = (
    # from                                 action                   to            capability                  guard
    Rule(frozenset({S.REPORTED}), Action.REGISTER, S.REGISTERED, "cases.register"),
    Rule(frozenset({S.REPORTED}), Action.REJECT, S.REJECTED, "cases.register"),
    Rule(frozenset({S.REPORTED, S.REGISTERED}), Action.MERGE, S.MERGED, "cases.merge"),
    Rule(frozenset({S.REGISTERED, S.RETURNED}), Action.DISPATCH, S.DISPATCHED, "cases.dispatch"),
    Rule(frozenset({S.DISPATCHED, S.ACCEPTED}), Action.ACCEPT, S.ACCEPTED, "cases.handle", DEPARTMENT_DISPATCHED),
    Rule(frozenset({S.DISPATCHED}), Action.RETURN, S.RETURNED, "cases.handle", DEPARTMENT_DISPATCHED),
    Rule(frozenset({S.ACCEPTED}), Action.FEEDBACK, S.HANDLED, "cases.handle", DEPARTMENT_ACCEPTED),
    Rule(frozenset({S.HANDLED}), Action.VERIFY, S.VERIFIED, "cases.verify"),
    Rule(frozenset({S.HANDLED}), Action.REWORK, S.ACCEPTED, "cases.verify"),
    Rule(frozenset({S.VERIFIED}), Action.CLOSE, S.CLOSED, "cases.close"),
    Rule(frozenset({S.DISPATCHED, S.ACCEPTED}), Action.POSTPONE_REQUEST, None, "cases.handle", DEPARTMENT_ON_IT),
    Rule(frozenset({S.DISPATCHED, S.ACCEPTED}), Action.POSTPONE_APPROVE, None, "cases.approve_postpone",
         POSTPONEMENT_PENDING),
    Rule(frozenset({S.DISPATCHED, S.ACCEPTED}), Action.POSTPONE_REJECT, None, "cases.approve_postpone",
         POSTPONEMENT_PENDING),
    Rule(_OPEN, Action.SUPERVISE, None, "cases.supervise"),
    # 回访 also of a report merged into another case, once that one is closed (the reporter's only outcome).
    Rule(frozenset({S.CLOSED, S.MERGED}), Action.FOLLOW_UP, None, "cases.follow_up", MERGED_CASE_CLOSED),
)

_BY_ACTION: dict[Action, Rule] = {r.action: r for r in TRANSITIONS}


def capability_of(action: str) -> str:
    """The capability an action needs whatever the state, or "" for no such action."""
    try:
        return _BY_ACTION[Action(action)].capability
    except ValueError:
        return ""


def rule_for(state: str, action: str) -> Rule | None:
    """The rule that allows ``action`` from ``state``, or None."""
    try:
        rule = _BY_ACTION[Action(action)]
    except ValueError:
        return None
    return rule if state in rule.sources else None


def actions_from(state: str) -> list[Action]:
    return [r.action for r in TRANSITIONS if state in r.sources]
