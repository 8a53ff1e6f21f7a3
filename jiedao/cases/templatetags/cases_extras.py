from django import template

from ..choices import CaseState
from ..views_support import ACTION_LABELS

register = template.Library()


@register.filter
def action_label(code: str) -> str:
    return ACTION_LABELS.get(code, code)


@register.filter
def state_label(code: str) -> str:
    try:
        return CaseState(code).label
    except ValueError:
        return code or ""
