"""Case intake from every source (GOV-1): grid, deadline, duplicates, event, audit — one path."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.kernel.audit import audit_record
from jiedao.kernel.calendar import WorkCalendar
from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.permissions import require_capability
from jiedao.kernel.pii.masking import mask_phone
from jiedao.places.coords import to_wgs84
from jiedao.places.geo import grid_for_point

from ..choices import CaseSource, CaseState, PhotoStage, Urgency
from ..error_codes import CaseErrorCode
from ..evaluation.figures import figures_case_reported
from ..models import Case, CaseCategory, CaseEvent
from .photos import check_photos, photos_store

# Duplicate detection thresholds; a sub-district may override them in settings.
DUPLICATE_RADIUS_M = getattr(settings, "CASE_DUPLICATE_RADIUS_M", 50)
DUPLICATE_WINDOW_H = getattr(settings, "CASE_DUPLICATE_WINDOW_H", 48)
DEFAULT_URGENT_HOURS = 4
DEFAULT_NORMAL_DAYS = 5


def distance_m(lat1, lng1, lat2, lng2) -> float:
    r = 6_371_000
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def duplicate_candidates(*, subdistrict_id, category_id, lat, lng, at, exclude_id=None) -> list[int]:
    """Same category, within the radius, reported in the window before ``at`` (open or closed)."""
    if lat is None or lng is None or category_id is None:
        return []
    dlat = DUPLICATE_RADIUS_M / 111_000
    dlng = DUPLICATE_RADIUS_M / (111_000 * max(math.cos(math.radians(lat)), 0.1))
    qs = Case.objects.filter(
        subdistrict_id=subdistrict_id, category_id=category_id,
        reported_at__gte=at - timezone.timedelta(hours=DUPLICATE_WINDOW_H), reported_at__lte=at,
        lat__range=(lat - dlat, lat + dlat), lng__range=(lng - dlng, lng + dlng),
    ).exclude(state__in=[CaseState.MERGED, CaseState.REJECTED])
    if exclude_id:
        qs = qs.exclude(pk=exclude_id)
    return [pk for pk, la, ln in qs.values_list("pk", "lat", "lng") if distance_m(lat, lng, la, ln) <= DUPLICATE_RADIUS_M]


def compute_deadline(*, subdistrict_id, category: CaseCategory | None, urgency: str, start):
    cal = WorkCalendar(subdistrict_id)
    if urgency == Urgency.URGENT:
        hours = (category.urgent_hours if category and category.urgent_hours else None) or DEFAULT_URGENT_HOURS
        return cal.add_working_hours(start, hours)
    days = (category.normal_days if category and category.normal_days else None) or DEFAULT_NORMAL_DAYS
    return cal.add_working_days(start, days)


@dataclass
class Intake:
    """What any source hands to the engine."""

    source: str
    description: str
    category: CaseCategory | None = None
    lat: float | None = None
    lng: float | None = None
    coord_system: str = "wgs84"
    address: str = ""
    title: str = ""
    urgency: str = Urgency.NORMAL
    external_id: str = ""
    reporter_name: str = ""
    reporter_phone: str = ""
    photos: tuple = ()
    reported_at: object = None  # a hotline order's own time


def _nearest_address(subdistrict_id, lat, lng) -> str:
    """Fill the address from the nearest known place (building or premises within ~150 m)."""
    from jiedao.places.models import Building, Premises

    d = 0.0015
    best, best_d = "", 150.0
    for model in (Building, Premises):
        for name, address, la, ln in model.objects.filter(
            subdistrict_id=subdistrict_id, lat__range=(lat - d, lat + d), lng__range=(lng - d, lng + d)
        ).values_list("name", "address", "lat", "lng")[:200]:
            dist = distance_m(lat, lng, la, ln)
            if dist < best_d:
                best, best_d = f"{address}（{name}附近）" if address else f"{name}附近", dist
    return best


@transaction.atomic
def case_report(*, actor, subdistrict, intake: Intake) -> Case:
    """Create a case from any source. ``actor`` is None for public, hotline and device intake."""
    if actor is not None:
        require_capability(actor, "cases.report")
    if intake.source not in CaseSource.values:
        raise DomainError(CaseErrorCode.SOURCE_UNKNOWN, _("未知的案件来源。"))
    description = (intake.description or "").strip()
    if not description:
        raise DomainError(CaseErrorCode.DESCRIPTION_REQUIRED, _("请描述问题。"), fields={"description": _("请描述问题。")})
    if intake.category is not None and intake.category.subdistrict_id != subdistrict.pk:
        raise DomainError(CaseErrorCode.CATEGORY_NOT_FOUND, _("案件类别不存在。"), fields={"category": _("案件类别不存在。")})
    checked = check_photos(intake.photos)
    lat = lng = None
    grid_id = None
    if intake.lat is not None and intake.lng is not None:
        try:
            lat, lng = to_wgs84(float(intake.lat), float(intake.lng), intake.coord_system)
        except ValueError as exc:
            raise DomainError("invalid_coordinates", _("坐标系不支持。")) from exc
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise DomainError("invalid_coordinates", _("坐标超出范围。"))
        grid_id = grid_for_point(subdistrict_id=subdistrict.pk, lat=lat, lng=lng)
    now = timezone.now()
    reported_at = intake.reported_at or now
    address = (intake.address or "").strip() or (_nearest_address(subdistrict.pk, lat, lng) if lat is not None else "")
    case = Case(
        subdistrict=subdistrict, source=intake.source, external_id=(intake.external_id or "")[:64],
        category=intake.category, title=(intake.title or description[:40])[:120], description=description,
        address=address[:200], lat=lat, lng=lng, grid_id=grid_id, urgency=intake.urgency or Urgency.NORMAL,
        reporter=actor, reporter_name=(intake.reporter_name or "")[:64], reporter_phone=intake.reporter_phone or "",
        public_token=secrets.token_urlsafe(12), reported_at=reported_at,
        lead_department=intake.category.default_department if intake.category else None,
    )
    case.deadline_at = compute_deadline(subdistrict_id=subdistrict.pk, category=intake.category,
                                        urgency=case.urgency, start=now)
    case.duplicate_candidates = duplicate_candidates(subdistrict_id=subdistrict.pk, category_id=case.category_id,
                                                     lat=lat, lng=lng, at=reported_at)
    try:
        with transaction.atomic():
            case.save()
    except IntegrityError as exc:
        raise DomainError("duplicate_external_id", _("该外部编号的工单已存在。")) from exc
    case.number = f"{timezone.localtime(reported_at):%Y%m%d}{case.pk:06d}"
    Case.objects.filter(pk=case.pk).update(number=case.number)
    event = CaseEvent.objects.create(
        subdistrict=subdistrict, case=case, action="report", to_state=case.state, actor=actor,
        actor_name=str(actor) if actor else (intake.reporter_name or CaseSource(intake.source).label),
        comment=description[:500], created_at=now,
        data={"source": intake.source, "duplicates": case.duplicate_candidates},
    )
    photos_store(case=case, event=event, stage=PhotoStage.REPORT, checked=checked)
    audit_record(actor=actor, action="case.report", obj=case, changes={
        "source": [None, intake.source], "category": [None, case.category_id], "grid": [None, grid_id],
        "reporter_phone": [None, mask_phone(case.reporter_phone)]})
    figures_case_reported(case)  # 绩效考评 kept incrementally (GOV-4)
    return case


def case_report_finding(*, actor, subdistrict, finding_ref: str, category, description: str, lat=None, lng=None,
                        address: str = "", photos=()) -> tuple[Case, bool]:
    """For the inspection engine: a failed checklist item opens one case. ``finding_ref`` (e.g.
    ``inspection:<id>:item:<code>``) makes a retry return the first case instead of a second one."""
    existing = Case.objects.filter(subdistrict=subdistrict, source=CaseSource.INSPECTION,
                                   external_id=finding_ref[:64]).first()
    if existing:
        return existing, False
    case = case_report(actor=actor, subdistrict=subdistrict, intake=Intake(
        source=CaseSource.INSPECTION, description=description, category=category, lat=lat, lng=lng,
        address=address, external_id=finding_ref[:64], photos=tuple(photos)))
    return case, True
