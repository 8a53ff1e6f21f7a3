"""Recording an inspection: answers checked against the template version, failures open cases."""

from __future__ import annotations

import datetime as dt
import io
import uuid

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps

from jiedao.cases.services.intake import case_report_finding
from jiedao.cases.services.photos import check_photos
from jiedao.kernel.alerts import alert_raise_once
from jiedao.kernel.audit import audit_record
from jiedao.kernel.calendar import WorkCalendar
from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.permissions import require_capability
from jiedao.places.selectors import PLACE_MODELS

from ..choices import ItemKind, TemplateStatus
from ..error_codes import InspectionErrorCode
from ..models import ChecklistTemplate, Inspection, InspectionAnswer, InspectionPhoto, InspectionPlan
from .schedule import occurrence_on, occurrences


def target_resolve(*, user, target_type: str, target_id: int) -> dict:
    """The place behind a target, as the denormalised fields an inspection keeps (404 outside scope)."""
    model = PLACE_MODELS.get(target_type)
    qs = (model.objects.visible_to(user) if user is not None else model.objects.all()) if model else None
    place = qs.filter(pk=target_id).first() if qs is not None else None
    if place is None:
        raise DomainError(InspectionErrorCode.TARGET_NOT_FOUND, _("检查对象不存在。"), status=404)
    grid_id = place.pk if target_type == "grid" else getattr(place, "grid_id", None)
    return {"target_type": target_type, "target_id": place.pk, "target_name": str(place)[:128],
            "lat": place.lat, "lng": place.lng, "grid_id": grid_id}


def _evaluate(item, raw) -> tuple[dict, bool]:
    """Parse one answer; return the answer fields and whether the item failed."""
    if raw in (None, "", []):
        if item.required and item.kind != ItemKind.PHOTO:
            raise DomainError(InspectionErrorCode.ANSWER_MISSING, _("请回答：%s") % item.text, fields={item.code: "required"})
        return {}, False
    try:
        if item.kind == ItemKind.PASS_FAIL:
            passed = raw in (True, "true", "1", "pass", "合格", 1, "yes")
            return {"passed": passed}, not passed
        if item.kind == ItemKind.SCORE:
            score = float(raw)
            if score < 0 or (item.max_score is not None and score > item.max_score):
                raise ValueError
            return {"score": score}, item.fail_below is not None and score < item.fail_below
        if item.kind == ItemKind.NUMBER:
            number = float(raw)
            out_of_range = (item.min_value is not None and number < item.min_value) or (
                item.max_value is not None and number > item.max_value)
            return {"number": number}, out_of_range
        if item.kind == ItemKind.CHOICE:
            options = {str(c["value"]): c for c in item.choices}
            if str(raw) not in options:
                raise ValueError
            return {"choice": str(raw)}, options[str(raw)].get("passes", True) is False
        return {"text": str(raw)[:2000]}, False
    except (TypeError, ValueError):
        raise DomainError(InspectionErrorCode.ANSWER_INVALID, _("回答不正确：%s") % item.text,
                          fields={item.code: "invalid"}) from None


def _thumb(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        img.thumbnail((320, 320))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=80)
        return buf.getvalue()


@transaction.atomic
def inspection_submit(*, actor, subdistrict, template: ChecklistTemplate, target_type: str, target_id: int,
                      answers: dict, plan: InspectionPlan | None = None, started_at=None, finished_at=None,
                      track: list | None = None, notes: str = "", photos: dict | None = None) -> Inspection:
    """Record one inspection. ``answers`` maps item codes to raw values; ``photos`` maps item codes (or "")
    to uploaded files. A failed item with a case category opens one case through the case engine."""
    require_capability(actor, "inspections.do")
    if template.subdistrict_id != subdistrict.pk or template.status == TemplateStatus.DRAFT:
        raise DomainError(InspectionErrorCode.TEMPLATE_NOT_ACTIVE, _("检查表未启用。"))
    target = target_resolve(user=actor, target_type=target_type, target_id=target_id)
    if target_type != template.target_type:
        raise DomainError(InspectionErrorCode.TARGET_NOT_FOUND, _("该检查表不适用于此类对象。"))
    now = timezone.now()
    period_key = ""
    day = timezone.localtime(finished_at or now).date()
    if plan is None:
        # An inspection of a planned target counts for the inspector's plan even when started ad hoc.
        for candidate in InspectionPlan.objects.filter(inspector=actor, active=True, template_code=template.code,
                                                       targets__target_type=target_type,
                                                       targets__target_id=target["target_id"]):
            occ = occurrence_on(candidate, day)
            if occ and not Inspection.objects.filter(plan=candidate, target_type=target_type,
                                                     target_id=target["target_id"], period_key=occ.key).exists():
                plan = candidate
                break
    if plan is not None:
        if plan.inspector_id != actor.pk:
            raise DomainError(InspectionErrorCode.NOT_YOUR_PLAN, _("这不是您的巡查计划。"), status=403)
        if plan.template_code != template.code or not plan.targets.filter(
                target_type=target_type, target_id=target["target_id"]).exists():
            raise DomainError(InspectionErrorCode.PLAN_INVALID, _("该对象不在计划内。"))
        occ = occurrence_on(plan, day)
        if occ is not None:
            period_key = occ.key
            if Inspection.objects.filter(plan=plan, target_type=target_type, target_id=target["target_id"],
                                         period_key=period_key).exists():
                raise DomainError(InspectionErrorCode.ALREADY_DONE, _("本周期已检查过该对象。"), status=409)
    items = list(template.items.select_related("case_category"))
    parsed, failed_items = [], []
    for item in items:
        fields, failed = _evaluate(item, answers.get(item.code))
        if item.kind == ItemKind.PHOTO and item.required and not (photos or {}).get(item.code):
            raise DomainError(InspectionErrorCode.ANSWER_MISSING, _("请拍照：%s") % item.text,
                              fields={item.code: "photo required"})
        parsed.append((item, fields, failed))
        if failed:
            failed_items.append(item)
    checked_photos = {code: check_photos(files if isinstance(files, list | tuple) else [files])
                      for code, files in (photos or {}).items() if files}
    scores = [f["score"] for _i, f, _x in parsed if "score" in f]
    total = sum(scores) if scores else None
    passed = not failed_items and (template.pass_score is None or total is None or total >= template.pass_score)
    inspection = Inspection.objects.create(
        subdistrict=subdistrict, template=template, plan=plan, period_key=period_key, inspector=actor,
        started_at=started_at or now, finished_at=finished_at or now, track=(track or [])[:5000],
        notes=notes[:4000], score=total, passed=passed, failed_items=len(failed_items), **target)
    by_item = {}
    for item, fields, failed in parsed:
        if not fields:  # an optional item left blank
            continue
        by_item[item.code] = InspectionAnswer.objects.create(inspection=inspection, item=item, failed=failed, **fields)
    for code, pairs in checked_photos.items():
        item = next((i for i in items if i.code == code), None)
        for data, _fmt in pairs:
            name = uuid.uuid4().hex
            photo = InspectionPhoto(inspection=inspection, item=item)
            photo.image.save(f"{name}.jpg", ContentFile(data), save=False)
            photo.thumbnail.save(f"{name}-thumb.jpg", ContentFile(_thumb(data)), save=False)
            photo.save()
    for item in failed_items:
        if item.case_category_id is None:
            continue
        case, _created = case_report_finding(
            actor=None, subdistrict=subdistrict, finding_ref=f"inspection:{inspection.pk}:item:{item.code}",
            category=item.case_category, lat=target["lat"], lng=target["lng"],
            description=f"{template.name}：{target['target_name']} “{item.text}”不合格" + (f"。{notes}" if notes else ""))
        InspectionAnswer.objects.filter(pk=by_item[item.code].pk).update(case=case)
    audit_record(actor=actor, action="inspection.submit", obj=inspection, changes={
        "template": [None, f"{template.code} v{template.version}"], "passed": [None, passed],
        "failed_items": [None, len(failed_items)], "period": [None, period_key]})
    return inspection


def check_missed(*, today: dt.date | None = None, lookback_days: int = 35) -> int:
    """Raise one 'inspection.missed' alert per plan target and occurrence that ended before today undone."""
    today = today or timezone.localdate()
    raised = 0
    for plan in InspectionPlan.objects.filter(active=True).prefetch_related("targets"):
        cal = WorkCalendar(plan.subdistrict_id)
        past = [o for o in occurrences(plan, today - dt.timedelta(days=lookback_days), today, cal) if o.last < today]
        if not past:
            continue
        done = set(Inspection.objects.filter(plan=plan, period_key__in=[o.key for o in past])
                   .values_list("target_type", "target_id", "period_key"))
        for occ in past:
            for t in plan.targets.all():
                if (t.target_type, t.target_id, occ.key) in done:
                    continue
                _alert, created = alert_raise_once(
                    rule="inspection.missed", subject_type="inspections.plan",
                    subject_id=f"{plan.pk}:{t.target_type}:{t.target_id}:{occ.key}", subdistrict_id=plan.subdistrict_id,
                    subject_repr=f"{plan.name} · {t.target_name}",
                    message=f"{plan.inspector} 未在 {occ.last:%m-%d} 前完成“{plan.name}”对 {t.target_name} 的检查（{occ.key}）")
                raised += created
    return raised
