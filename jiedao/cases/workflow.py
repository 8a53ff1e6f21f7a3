"""The one transition table of the case workflow (GOV-2, GOV-3).

Each rule: the states an action may start from, the state it leads to
(``None``: the state stays, e.g. a supervision flag or a co-handler's
feedback that is not the last), and the capability it needs. Guards that
need the case's data (is this department assigned? is a postponement
pending?) live in the action's handler in services/transitions.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .choices import CaseState as S


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
class Rule:
    sources: frozenset[str]
    action: Action
    target: str | None
    capability: str


_OPEN = frozenset({S.REPORTED, S.REGISTERED, S.DISPATCHED, S.RETURNED, S.ACCEPTED, S.HANDLED, S.VERIFIED})

TRANSITIONS: tuple[Rule, ...] = (
    Rule(frozenset({S.REPORTED}), Action.REGISTER, S.REGISTERED, "cases.register"),
    Rule(frozenset({S.REPORTED}), Action.REJECT, S.REJECTED, "cases.register"),
    Rule(frozenset({S.REPORTED, S.REGISTERED}), Action.MERGE, S.MERGED, "cases.merge"),
    Rule(frozenset({S.REGISTERED, S.RETURNED}), Action.DISPATCH, S.DISPATCHED, "cases.dispatch"),
    Rule(frozenset({S.DISPATCHED, S.ACCEPTED}), Action.ACCEPT, S.ACCEPTED, "cases.handle"),
    Rule(frozenset({S.DISPATCHED}), Action.RETURN, S.RETURNED, "cases.handle"),
    Rule(frozenset({S.ACCEPTED}), Action.FEEDBACK, S.HANDLED, "cases.handle"),
    Rule(frozenset({S.HANDLED}), Action.VERIFY, S.VERIFIED, "cases.verify"),
    Rule(frozenset({S.HANDLED}), Action.REWORK, S.ACCEPTED, "cases.verify"),
    Rule(frozenset({S.VERIFIED}), Action.CLOSE, S.CLOSED, "cases.close"),
    Rule(frozenset({S.DISPATCHED, S.ACCEPTED}), Action.POSTPONE_REQUEST, None, "cases.handle"),
    Rule(frozenset({S.DISPATCHED, S.ACCEPTED}), Action.POSTPONE_APPROVE, None, "cases.approve_postpone"),
    Rule(frozenset({S.DISPATCHED, S.ACCEPTED}), Action.POSTPONE_REJECT, None, "cases.approve_postpone"),
    Rule(_OPEN, Action.SUPERVISE, None, "cases.supervise"),
    # 回访 also of a report merged into another case, once that one is closed (the reporter's only outcome).
    Rule(frozenset({S.CLOSED, S.MERGED}), Action.FOLLOW_UP, None, "cases.follow_up"),
)

_BY_ACTION: dict[Action, Rule] = {r.action: r for r in TRANSITIONS}


def rule_for(state: str, action: str) -> Rule | None:
    """The rule that allows ``action`` from ``state``, or None."""
    try:
        rule = _BY_ACTION[Action(action)]
    except ValueError:
        return None
    return rule if state in rule.sources else None


def actions_from(state: str) -> list[Action]:
    return [r.action for r in TRANSITIONS if state in r.sources]
