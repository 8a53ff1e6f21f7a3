from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils.translation import gettext as _

from jiedao.kernel.audit import audit_record
from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.permissions import require_capability

from ..choices import Frequency
from ..error_codes import InspectionErrorCode
from ..models import InspectionPlan, PlanTarget
from .inspect import target_resolve
from .templates import template_current


@transaction.atomic
def plan_create(*, actor, subdistrict, name: str, template_code: str, inspector, frequency: str,
                start_date: dt.date, targets: list[tuple[str, int]], end_date: dt.date | None = None,
                workdays_only: bool = False, dates: list[str] | None = None, resolver=None) -> InspectionPlan:
    """``targets``: (target_type, id) pairs; ``resolver`` is the user whose scope resolves them (default actor)."""
    if actor is not None:
        require_capability(actor, "inspections.manage")
    template = template_current(subdistrict_id=subdistrict.pk, code=template_code)
    if frequency not in Frequency.values or (frequency == Frequency.DATES and not dates) or (
            end_date and end_date < start_date):
        raise DomainError(InspectionErrorCode.PLAN_INVALID, _("计划的频次或日期不正确。"))
    plan = InspectionPlan.objects.create(
        subdistrict=subdistrict, name=name, template_code=template_code, inspector=inspector, frequency=frequency,
        dates=sorted(dates or []), workdays_only=workdays_only, start_date=start_date, end_date=end_date)
    rows = []
    for target_type, target_id in targets:
        if target_type != template.target_type:
            raise DomainError(InspectionErrorCode.PLAN_INVALID, _("对象类型与检查表不符。"))
        rows.append(PlanTarget(plan=plan, **target_resolve(user=resolver or actor,
                                                          target_type=target_type, target_id=target_id)))
    PlanTarget.objects.bulk_create(rows)
    audit_record(actor=actor, action="inspection_plan.create", obj=plan,
                 changes={"inspector": [None, inspector.username], "targets": [None, len(rows)],
                          "frequency": [None, frequency]})
    return plan
