"""Checklist templates: create, activate, revise. A version with inspections is never edited in place."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from jiedao.kernel.audit import audit_record
from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.permissions import require_capability

from ..choices import ItemKind, TemplateStatus
from ..error_codes import InspectionErrorCode
from ..models import ChecklistItem, ChecklistTemplate

ITEM_FIELDS = ("code", "text", "kind", "required", "unit", "min_value", "max_value", "choices", "max_score",
               "fail_below", "case_category")


def _check_items(items: list[dict]) -> None:
    codes = [i["code"] for i in items]
    if len(codes) != len(set(codes)):
        raise DomainError(InspectionErrorCode.ANSWER_INVALID, _("检查项编码重复。"))
    for i in items:
        if i["kind"] not in ItemKind.values:
            raise DomainError(InspectionErrorCode.ANSWER_INVALID, _("检查项类型不正确：%s") % i["kind"])
        if i["kind"] == ItemKind.CHOICE and not i.get("choices"):
            raise DomainError(InspectionErrorCode.ANSWER_INVALID, _("选项类检查项需要选项。"))


def _add_items(template: ChecklistTemplate, items: list[dict]) -> None:
    ChecklistItem.objects.bulk_create([
        ChecklistItem(template=template, order=n, **{k: v for k, v in item.items() if k in ITEM_FIELDS})
        for n, item in enumerate(items)])


@transaction.atomic
def template_create(*, actor, subdistrict, code: str, name: str, kind: str, target_type: str, items: list[dict],
                    pass_score: float | None = None, description: str = "", activate: bool = True) -> ChecklistTemplate:
    if actor is not None:
        require_capability(actor, "inspections.manage")
    _check_items(items)
    template = ChecklistTemplate.objects.create(
        subdistrict=subdistrict, code=code, version=1, name=name, kind=kind, target_type=target_type,
        pass_score=pass_score, description=description,
        status=TemplateStatus.ACTIVE if activate else TemplateStatus.DRAFT)
    _add_items(template, items)
    audit_record(actor=actor, action="checklist_template.create", obj=template,
                 changes={"code": [None, code], "items": [None, len(items)]})
    return template


@transaction.atomic
def template_revise(*, actor, template: ChecklistTemplate, items: list[dict] | None = None, name: str | None = None,
                    pass_score: float | None = None) -> ChecklistTemplate:
    """Make the next version with the changes and activate it; the old version is retired but kept,
    so inspections done with it still show exactly what was asked."""
    if actor is not None:
        require_capability(actor, "inspections.manage", obj=template)
    latest = ChecklistTemplate.objects.filter(subdistrict_id=template.subdistrict_id, code=template.code) \
        .order_by("-version").first()
    if items is None:
        items = [{k: getattr(i, k) for k in ITEM_FIELDS} for i in template.items.all()]
    _check_items(items)
    new = ChecklistTemplate.objects.create(
        subdistrict_id=template.subdistrict_id, code=template.code, version=latest.version + 1,
        name=name or template.name, kind=template.kind, target_type=template.target_type,
        pass_score=template.pass_score if pass_score is None else pass_score, description=template.description,
        status=TemplateStatus.ACTIVE)
    _add_items(new, items)
    ChecklistTemplate.objects.filter(subdistrict_id=template.subdistrict_id, code=template.code) \
        .exclude(pk=new.pk).filter(status=TemplateStatus.ACTIVE).update(status=TemplateStatus.RETIRED)
    audit_record(actor=actor, action="checklist_template.revise", obj=new,
                 changes={"version": [template.version, new.version], "items": [None, len(items)]})
    return new


def template_current(*, subdistrict_id: int, code: str) -> ChecklistTemplate:
    template = ChecklistTemplate.objects.filter(subdistrict_id=subdistrict_id, code=code,
                                                status=TemplateStatus.ACTIVE).order_by("-version").first()
    if template is None:
        raise DomainError(InspectionErrorCode.TEMPLATE_NOT_ACTIVE, _("检查表未启用：%s") % code)
    return template
