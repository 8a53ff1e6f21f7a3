"""Case intake from every source (GOV-1): grid, deadline, duplicates, event, audit — one path."""

from __future__ import annotations

import functools
import math
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.kernel.audit import audit_record
from jiedao.kernel.calendar import WorkCalendar
from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.models import Subdistrict
from jiedao.kernel.permissions import require_capability
from jiedao.kernel.pii.masking import mask_phone
from jiedao.kernel.rows import Batch, row_insert
from jiedao.places.cells import cells_in_box
from jiedao.places.coords import to_wgs84
from jiedao.places.geo import grid_for_point, nearest_place_label

from ..choices import CaseSource, CaseState, PhotoStage, Urgency
from ..error_codes import CaseErrorCode
from ..evaluation.figures import figures_case_reported
from ..models import Case, CaseCategory, CaseEvent
from ..selectors import category_in
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


def duplicates_query(batch: Batch, found: list, *, subdistrict_id, category_id, lat, lng, at):
    """Possible duplicates (X-3): same category, within the radius, reported in the window before ``at``, open or
    closed. Adds the check to ``batch``; running the batch fills ``found`` with their ids."""
    if lat is None or lng is None or category_id is None:
        return
    dlat = DUPLICATE_RADIUS_M / 111_000
    dlng = DUPLICATE_RADIUS_M / (111_000 * max(math.cos(math.radians(lat)), 0.1))
    cells = cells_in_box(lat - dlat, lat + dlat, lng - dlng, lng + dlng)
    # One fixed statement instead of a queryset: it runs on every intake, and building the queryset cost
    # three times as much as running it (bench/case_intake.py). The index (subdistrict, category, cell,
    # reported_at) takes it to the 1–4 cells around the point and, in each, to the time window.
    ops = connection.ops
    params = [subdistrict_id, category_id, *cells,
              ops.adapt_datetimefield_value(at - timezone.timedelta(hours=DUPLICATE_WINDOW_H)),
              ops.adapt_datetimefield_value(at), lat - dlat, lat + dlat, lng - dlng, lng + dlng,
              CaseState.MERGED.value, CaseState.REJECTED.value]

    def keep_near(rows):
        found.extend(pk for pk, la, ln in rows if distance_m(lat, lng, la, ln) <= DUPLICATE_RADIUS_M)

    # Not prepared: a generic plan, made without the values, estimated the window and category as a few rows
    # each and scanned both indexes (1.5 ms instead of 0.2 ms with the probe index).
    batch.add(_duplicate_sql(len(cells)), params, keep_near, prepare=False)


@functools.cache
def _duplicate_sql(n_cells: int) -> str:
    return (
        f"SELECT id, lat, lng FROM {Case._meta.db_table} WHERE subdistrict_id = %s AND category_id = %s"  # noqa: S608 (table name from the model)
        f" AND cell IN ({', '.join(['%s'] * n_cells)})"
        " AND reported_at >= %s AND reported_at <= %s AND lat BETWEEN %s AND %s AND lng BETWEEN %s AND %s"
        " AND state NOT IN (%s, %s) ORDER BY id"
    )


def compute_deadline(*, subdistrict_id, category: CaseCategory | None, urgency: str, start, calendar_token: str = ""):
    cal = WorkCalendar(subdistrict_id, token=calendar_token)
    if urgency == Urgency.URGENT:
        hours = (category.urgent_hours if category and category.urgent_hours else None) or DEFAULT_URGENT_HOURS
        return cal.add_working_hours(start, hours)
    days = (category.normal_days if category and category.normal_days else None) or DEFAULT_NORMAL_DAYS
    return cal.add_working_days(start, days)


@dataclass
class Intake:
    """What any source hands to the engine. The category either as a row the caller loaded (``category``) or, to be
    looked up in the sub-district's categories after the intake's reads, as an id (``category_id``)."""

    source: str
    description: str
    category: CaseCategory | None = None
    category_id: int | None = None
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


def _category_not_found() -> DomainError:
    # 404 like any id outside the caller's sub-district (DESIGN.md, scoping)
    return DomainError(CaseErrorCode.CATEGORY_NOT_FOUND, _("案件类别不存在。"), fields={"category": _("案件类别不存在。")},
                       status=404)


def case_report(*, actor, subdistrict_id: int, intake: Intake) -> Case:
    """Create a case from any source. ``actor`` is None for public, hotline and device intake.

    Everything that only reads (checks, grid, address, deadline, duplicates) happens before the transaction,
    which holds only the writes: on SQLite it holds the database's single write lock (BEGIN IMMEDIATE), so
    concurrent reports wait for each other's inserts only (measured in bench/case_intake.py). The sub-district's
    row is read with the duplicate check, in one round trip on PostgreSQL; the grid and address indexes, the
    calendar and the categories are per-process caches keyed by that row's tokens, so they are used only after it
    (decision 0013).
    """
    if actor is not None:
        require_capability(actor, "cases.report")
    if intake.source not in CaseSource.values:
        raise DomainError(CaseErrorCode.SOURCE_UNKNOWN, _("未知的案件来源。"))
    description = (intake.description or "").strip()
    if not description:
        raise DomainError(CaseErrorCode.DESCRIPTION_REQUIRED, _("请描述问题。"), fields={"description": _("请描述问题。")})
    category = intake.category
    if category is not None and category.subdistrict_id != subdistrict_id:
        raise _category_not_found()
    category_id = category.pk if category is not None else intake.category_id
    checked = check_photos(intake.photos)
    lat = lng = None
    if intake.lat is not None and intake.lng is not None:
        try:
            lat, lng = to_wgs84(float(intake.lat), float(intake.lng), intake.coord_system)
        except ValueError as exc:
            raise DomainError("invalid_coordinates", _("坐标系不支持。")) from exc
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise DomainError("invalid_coordinates", _("坐标超出范围。"))
    now = timezone.now()
    reported_at = intake.reported_at or now
    case = Case(
        subdistrict_id=subdistrict_id, source=intake.source, external_id=(intake.external_id or "")[:64],
        title=(intake.title or description[:40])[:120], description=description, lat=lat, lng=lng,
        urgency=intake.urgency or Urgency.NORMAL, reporter=actor, reporter_name=(intake.reporter_name or "")[:64],
        reporter_phone=intake.reporter_phone or "", public_token=secrets.token_urlsafe(12), reported_at=reported_at,
    )
    # The reads in one round trip on PostgreSQL: the sub-district, the duplicate check and, unless an external id
    # could collide, the new case's id, so that every write below can go in one more (kernel.rows.Batch).
    reads = Batch()
    found = reads.get(Subdistrict, subdistrict_id)
    case.duplicate_candidates = []  # filled in by reads.run()
    duplicates_query(reads, case.duplicate_candidates, subdistrict_id=subdistrict_id, category_id=category_id,
                      lat=lat, lng=lng, at=reported_at)
    if not case.external_id:
        reads.allocate_id(case)
    reads.run()
    if not found:
        raise DomainError("no_subdistrict", _("街道不存在。"), status=404)
    subdistrict = case.subdistrict = found[0]
    if category is None and category_id is not None:
        category = category_in(subdistrict, category_id)
        if category is None:
            raise _category_not_found()
    case.category = category
    case.lead_department_id = category.default_department_id if category else None
    if lat is not None:
        case.grid_id = grid_for_point(subdistrict_id=subdistrict_id, lat=lat, lng=lng,
                                      version=subdistrict.places_version)
    address = (intake.address or "").strip()
    if not address and lat is not None:
        address = nearest_place_label(subdistrict_id=subdistrict_id, lat=lat, lng=lng,
                                      version=subdistrict.places_version)
    case.address = address[:200]
    case.deadline_at = compute_deadline(subdistrict_id=subdistrict_id, category=category, urgency=case.urgency,
                                        start=now, calendar_token=subdistrict.calendar_token)
    ours = not connection.in_atomic_block  # then the audit record's message may commit (decision 0012)
    with transaction.atomic():
        return _case_insert(case=case, actor=actor, subdistrict=subdistrict, intake=intake, checked=checked, now=now,
                            commit=ours)


def _case_insert(*, case: Case, actor, subdistrict, intake: Intake, checked, now, commit: bool) -> Case:
    writes = Batch()
    if case.external_id:  # only an external id can collide (unique per source); no savepoint otherwise
        try:
            with transaction.atomic():
                row_insert(case)
        except IntegrityError as exc:
            raise DomainError("duplicate_external_id", _("该外部编号的工单已存在。")) from exc
    elif case.pk is None:
        row_insert(case)  # SQLite: the id comes back from the INSERT (RETURNING), with the number
    else:
        writes.insert(case)  # id allocated above; the number comes back with the batch
    event = CaseEvent(
        subdistrict=subdistrict, case=case, action="report", to_state=case.state, actor=actor,
        actor_name=str(actor) if actor else (intake.reporter_name or CaseSource(intake.source).label),
        comment=case.description[:500], created_at=now,
        data={"source": intake.source, "duplicates": case.duplicate_candidates},
    )
    writes.insert(event)
    figures_case_reported(case, batch=writes)  # 绩效考评 kept incrementally (GOV-4)
    if checked:
        writes.run()  # the photos refer to the event
        photos_store(case=case, event=event, stage=PhotoStage.REPORT, checked=checked)
    # The audit record runs the batch with its chain-head read: on PostgreSQL the case, its event and the figures
    # are written in the same round trip; the record itself goes with the COMMIT when the transaction is ours.
    audit_record(actor=actor, action="case.report", obj=case, batch=writes, commit=commit, changes={
        "source": [None, intake.source], "category": [None, case.category_id], "grid": [None, case.grid_id],
        "reporter_phone": [None, mask_phone(case.reporter_phone)]})
    return case


def case_report_finding(*, actor, subdistrict, finding_ref: str, category, description: str, lat=None, lng=None,
                        address: str = "", photos=()) -> tuple[Case, bool]:
    """For the inspection engine: a failed checklist item opens one case. ``finding_ref`` (e.g.
    ``inspection:<id>:item:<code>``) makes a retry return the first case instead of a second one."""
    existing = Case.objects.filter(subdistrict=subdistrict, source=CaseSource.INSPECTION,
                                   external_id=finding_ref[:64]).first()
    if existing:
        return existing, False
    case = case_report(actor=actor, subdistrict_id=subdistrict.pk, intake=Intake(
        source=CaseSource.INSPECTION, description=description, category=category, lat=lat, lng=lng,
        address=address, external_id=finding_ref[:64], photos=tuple(photos)))
    return case, True
