"""Template filters that mask personal fields: templates never print them raw."""

from django import template

from jiedao.kernel.pii import masking

register = template.Library()
register.filter("mask_id", masking.mask_id_number)
register.filter("mask_phone", masking.mask_phone)
register.filter("mask_address", masking.mask_address)
register.filter("mask_name", masking.mask_name)


@register.filter
def role_labels(value: str) -> str:
    """'rc_staff,leader' → '居委会工作人员、街道领导' (audit pages show people's words, not codes)."""
    from jiedao.kernel.roles import ROLES

    return "、".join(str(ROLES[c].label) if c in ROLES else c for c in (value or "").split(",") if c)
