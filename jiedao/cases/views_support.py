"""Helpers shared by the case pages and the API: which actions a user may offer on a case."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from jiedao.kernel.scoping import user_scope

from . import workflow

ACTION_LABELS = {
    "register": _("立案"), "reject": _("不予立案"), "merge": _("合并为重复案件"), "dispatch": _("派遣"), "accept": _("签收"),
    "return": _("退回"), "feedback": _("反馈处置结果"), "verify": _("核查通过"), "rework": _("核查不通过（返工）"), "close": _("结案"),
    "postpone_request": _("申请延期"), "postpone_approve": _("同意延期"), "postpone_reject": _("不同意延期"),
    "supervise": _("督办"), "follow_up": _("回访"), "report": _("上报"),
}


def allowed_actions(user, case) -> list[str]:
    """Actions the UI offers: allowed from the state, by capability and by the rule's guard (workflow.py)."""
    scope = user_scope(user)
    out = []
    for action in workflow.actions_from(case.state):
        rule = workflow.rule_for(case.state, action)
        if not scope.has(rule.capability) or not rule.guard_holds(user, case):
            continue
        if action == "merge" and not case.duplicate_candidates:  # the page merges into a flagged candidate
            continue
        out.append(str(action))
    return out
