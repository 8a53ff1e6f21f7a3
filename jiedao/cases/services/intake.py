"""Case intake from every source (GOV-1): grid, deadline, duplicates, event, audit — one path."""

from __future__ import annotations

import functools
import math
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.kernel.audit import audit_record
from jiedao.kernel.calendar import WorkCalendar
from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.models import Subdistrict
from jiedao.kernel.permissions import require_capability
from jiedao.kernel.pii.logging import redact
from jiedao.kernel.pii.masking import mask_name, mask_phone
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

# Duplicate detection thresholds: JIEDAO_DUPLICATE_RADIUS_M and JIEDAO_DUPLICATE_WINDOW_H (settings).
DUPLICATE_RADIUS_M = getattr(settings, "CASE_DUPLICATE_RADIUS_M", 50)
DUPLICATE_WINDOW_H = getattr(settings, "CASE_DUPLICATE_WINDOW_H", 48)
DEFAULT_URGENT_HOURS = 4
# Sources whose reporter is at the place (a phone's position, a map, an address); the others bring their own.
_LOCATED_BY_REPORTER = frozenset({CaseSource.GRID_WORKER, CaseSource.STAFF, CaseSource.RESIDENT})
DEFAULT_NORMAL_DAYS = 5


def _duplicate_params(*, subdistrict_id, category_id, lat, lng, at) -> tuple[list[int], list] | None:
    """The duplicate check's cells and, in the order of ``_DUPLICATE_TEST``, its other values (X-3); None when the
    report has no point or category."""
    if lat is None or lng is None or category_id is None:
        return None
    dlat = DUPLICATE_RADIUS_M / 111_000
    dlng = DUPLICATE_RADIUS_M / (111_000 * max(math.cos(math.radians(lat)), 0.1))
    ops = connection.ops
    return cells_in_box(lat - dlat, lat + dlat, lng - dlng, lng + dlng), [
        category_id, ops.adapt_datetimefield_value(at - timezone.timedelta(hours=DUPLICATE_WINDOW_H)),
        ops.adapt_datetimefield_value(at), subdistrict_id, lat - dlat, lat + dlat, lng - dlng, lng + dlng,
        CaseState.MERGED.value, CaseState.REJECTED.value, lat, lat, lng, DUPLICATE_RADIUS_M]


# One fixed statement instead of a queryset: it runs on every intake, and building the queryset cost three times as
# much as running it (bench/case_intake.py). The index case_duplicate_probe (cell, category, reported_at) takes it to
# each of the cells around the point (up to 6 for 50 m) and, in each, to the category's reports in the window; the
# haversine distance (the same SQL on SQLite, where Django provides the functions) keeps those within the radius.
# The sub-district is a filter that no index can take (``IS TRUE``): the category already belongs to one sub-district,
# and every index that starts with the sub-district would read all its recent cases. A planner without statistics,
# or with statistics older than the newest reports, took one of those (decision 0015); now the probe is the only
# index any plan can use.
_DUPLICATE_TEST = (
    " AND category_id = %s AND reported_at >= %s AND reported_at <= %s AND (subdistrict_id = %s) IS TRUE"
    " AND lat BETWEEN %s AND %s AND lng BETWEEN %s AND %s AND state NOT IN (%s, %s)"
    " AND 12742000 * ASIN(SQRT(POWER(SIN(RADIANS(lat - %s) / 2), 2)"
    " + COS(RADIANS(%s)) * COS(RADIANS(lat)) * POWER(SIN(RADIANS(lng - %s) / 2), 2))) <= %s"
)


@functools.cache
def _duplicate_where(n_cells: int) -> str:
    return f"{Case._meta.db_table} WHERE cell IN ({', '.join(['%s'] * n_cells)})" + _DUPLICATE_TEST


def duplicates_query(batch: Batch, found: list, **point):
    """Possible duplicates (X-3): same category, within the radius, reported in the window before ``at``, open or
    closed. Adds the check to ``batch``; running the batch fills ``found`` with their ids."""
    check = _duplicate_params(**point)
    if check is not None:
        cells, rest = check
        batch.add(f"SELECT id FROM {_duplicate_where(len(cells))} ORDER BY id", [*cells, *rest],  # noqa: S608
                  lambda rows: found.extend(pk for (pk,) in rows))


# PostgreSQL runs the check prepared (decision 0015), and after five executions with a generic plan, made without
# the values and kept for the session while the table grows. With the cells in an IN list, that plan could leave
# them out of the index condition (four descents looked dear for the few rows it expected) and read every report of
# the category in the window. Here each cell is a join value, one descent each, with the cell leading the index.
# The cells are always CELL_SLOTS values, NULL where the box has fewer cells (NULL matches no cell): then the generic
# plan expects as many cells as a custom one and costs the same, and PostgreSQL keeps it. Sent as one array of any
# length, the generic plan expected 10 cells, cost more than the custom plans, and every intake was planned anew.
CELL_SLOTS = 6  # a 50 m radius spans at most 2 × 3 cells of 0.001°


@functools.cache
def _duplicate_lateral(slots: int) -> str:
    table = Case._meta.db_table
    return (f"unnest(ARRAY[{', '.join(['%s::bigint'] * slots)}]) AS near(cell) CROSS JOIN LATERAL"  # noqa: S608
            f" (SELECT id FROM {table} WHERE {table}.cell = near.cell" + _DUPLICATE_TEST + ") found")


def duplicates_expression(**point) -> tuple[str, list] | None:
    """The same check as SQL computing the case's ``duplicate_candidates`` in its own INSERT (PostgreSQL): the
    new row is not yet there to find itself."""
    check = _duplicate_params(**point)
    if check is None:
        return None
    cells, rest = check
    slots = max(CELL_SLOTS, len(cells))  # a larger radius (settings) makes a statement of its own
    return ("(SELECT COALESCE(jsonb_agg(found.id ORDER BY found.id), '[]'::jsonb) FROM "  # noqa: S608 (model table)
            + _duplicate_lateral(slots) + ")", [*cells, *[None] * (slots - len(cells)), *rest])


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
    deadline_at: object = None  # a deadline set by the source (a 12345 order's 办结时限 binds the sub-district)


def intake_point(lat, lng, coord_system: str) -> tuple[float | None, float | None]:
    """The report's point in WGS-84, or (None, None) without one; a bad one is refused."""
    if lat is None or lng is None:
        return None, None
    try:
        lat, lng = to_wgs84(float(lat), float(lng), coord_system)
    except ValueError as exc:
        raise DomainError("invalid_coordinates", _("坐标系不支持。")) from exc
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise DomainError("invalid_coordinates", _("坐标超出范围。"))
    return lat, lng


def reporter_label(source: str, reporter_name: str) -> str:
    """Who reported, as the timeline shows it to every reader of the case: the channel and the masked name (a
    caller's or resident's full name is personal information, shown only as ``reporter_name_masked``)."""
    label = str(CaseSource(source).label)
    name = (reporter_name or "").strip()
    shown = name if source == CaseSource.SENSOR else mask_name(name)  # a device's name is no person's
    return f"{label}（{shown}）" if shown else label


def _category_not_found() -> DomainError:
    # 404 like any id outside the caller's sub-district (DESIGN.md, scoping)
    return DomainError(CaseErrorCode.CATEGORY_NOT_FOUND, _("案件类别不存在。"), fields={"category": _("案件类别不存在。")},
                       status=404)


# The sub-district rows this process's intakes read last, by id: on PostgreSQL an intake computes with one and
# checks its tokens in the write transaction instead of reading it first (decision 0015).
_known_subdistricts: dict[int, Subdistrict] = {}

_GUARD_SQL = (f"SELECT 1 / COUNT(*) FROM {Subdistrict._meta.db_table} WHERE id = %s AND places_version = %s"  # noqa: S608
              " AND calendar_token = %s AND categories_token = %s")


class _SubdistrictChanged(Exception):
    """The kept sub-district row's tokens no longer match: read the row and start again."""


def case_report(*, actor, subdistrict_id: int, intake: Intake) -> Case:
    """Create a case from any source. ``actor`` is None for public, hotline and device intake.

    Everything that only reads (checks, grid, address, deadline) happens before the transaction, which holds only
    the writes: on SQLite it holds the database's single write lock (BEGIN IMMEDIATE), so concurrent reports wait
    for each other's inserts only (measured in bench/case_intake.py). The grid and address indexes, the calendar
    and the categories are per-process caches keyed by tokens on the sub-district's row, so they are used only
    with that row at hand (decision 0013): read with the duplicate check, or, on PostgreSQL, the one this process
    read last, whose tokens the write transaction then checks before anything is written (decision 0015).
    """
    if actor is not None:
        require_capability(actor, "cases.report")
    if intake.source not in CaseSource.values:
        raise DomainError(CaseErrorCode.SOURCE_UNKNOWN, _("未知的案件来源。"))
    # A reporter's own words may carry a phone or ID number (theirs or a neighbour's): kept masked, as the
    # description is shown to every reader of the case and, for public channels, through Open311.
    description = redact((intake.description or "").strip())
    if not description:
        raise DomainError(CaseErrorCode.DESCRIPTION_REQUIRED, _("请描述问题。"), fields={"description": _("请描述问题。")})
    category = intake.category
    if category is not None and category.subdistrict_id != subdistrict_id:
        raise _category_not_found()
    checked = check_photos(intake.photos)
    lat, lng = intake_point(intake.lat, intake.lng, intake.coord_system)
    if intake.source in _LOCATED_BY_REPORTER and lat is None and not (intake.address or "").strip():
        # A case nobody can find: the grid, the department and the grid worker's check all start from the place.
        raise DomainError("location_required", _("请定位、在地图上点选位置或填写地址。"),
                          fields={"location": _("请定位、在地图上点选位置或填写地址。")})
    now = timezone.now()
    reported_at = intake.reported_at or now
    category_id = category.pk if category is not None else intake.category_id
    point = {"subdistrict_id": subdistrict_id, "category_id": category_id, "lat": lat, "lng": lng, "at": reported_at}

    def new_case() -> Case:
        return Case(
            subdistrict_id=subdistrict_id, source=intake.source, external_id=(intake.external_id or "")[:64],
            title=(redact(intake.title or "") or description[:40])[:120], description=description, lat=lat, lng=lng,
            urgency=intake.urgency or Urgency.NORMAL, reporter=actor, reporter_name=(intake.reporter_name or "")[:64],
            reporter_phone=intake.reporter_phone or "", public_token=secrets.token_urlsafe(12),
            reported_at=reported_at, duplicate_candidates=[])

    one_trip = Batch().one_trip
    ours = not connection.in_atomic_block  # then the audit record's message may commit (decision 0012)
    known = _known_subdistricts.get(subdistrict_id)
    # Only in a transaction of our own: a failed check aborts the transaction, which a caller's would not survive.
    if known is not None and one_trip and ours and not intake.external_id:
        case = new_case()
        try:
            _case_complete(case, known, category, category_id, intake.address, intake.deadline_at,
                           stale_is_possible=True)
            with transaction.atomic():
                return _case_insert(case=case, actor=actor, subdistrict=known, intake=intake, checked=checked,
                                    now=now, commit=True, duplicates=duplicates_expression(**point), guard=True)
        except _SubdistrictChanged:
            pass
        except DataError as exc:
            from psycopg.errors import DivisionByZero

            if not isinstance(exc.__cause__, DivisionByZero):  # what the check raises when the tokens differ
                raise
        _known_subdistricts.pop(subdistrict_id, None)
    case = new_case()
    # The sub-district's row, and where the case's own INSERT cannot compute them (SQLite) the duplicates, in one
    # round trip.
    reads = Batch()
    found = reads.get(Subdistrict, subdistrict_id)
    if not one_trip:
        duplicates_query(reads, case.duplicate_candidates, **point)
    reads.run()
    if not found:
        raise DomainError("no_subdistrict", _("街道不存在。"), status=404)
    subdistrict = _known_subdistricts[subdistrict_id] = found[0]
    _case_complete(case, subdistrict, category, category_id, intake.address, intake.deadline_at,
                   stale_is_possible=False)
    with transaction.atomic():
        return _case_insert(case=case, actor=actor, subdistrict=subdistrict, intake=intake, checked=checked, now=now,
                            commit=ours, duplicates=duplicates_expression(**point) if one_trip else None,
                            guard=False)


def _case_complete(case: Case, subdistrict, category, category_id, address: str, deadline_at, *,
                   stale_is_possible: bool):
    """Category, grid, address and deadline from the process caches keyed by ``subdistrict``'s tokens."""
    case.subdistrict = subdistrict
    if category is None and category_id is not None:
        category = category_in(subdistrict, category_id)
        if category is None:
            if stale_is_possible:  # perhaps a category added since that row was read
                raise _SubdistrictChanged
            raise _category_not_found()
    case.category = category
    case.lead_department_id = category.default_department_id if category else None
    if case.lat is not None:
        case.grid_id = grid_for_point(subdistrict_id=subdistrict.pk, lat=case.lat, lng=case.lng,
                                      version=subdistrict.places_version)
    address = (address or "").strip()
    if not address and case.lat is not None:
        address = nearest_place_label(subdistrict_id=subdistrict.pk, lat=case.lat, lng=case.lng,
                                      version=subdistrict.places_version)
    case.address = address[:200]
    # From the report's own time: a hotline order received yesterday and imported today is due a day earlier.
    case.deadline_at = deadline_at or compute_deadline(
        subdistrict_id=subdistrict.pk, category=category, urgency=case.urgency, start=case.reported_at,
        calendar_token=subdistrict.calendar_token)


def _case_insert(*, case: Case, actor, subdistrict, intake: Intake, checked, now, commit: bool, duplicates,
                 guard: bool) -> Case:
    """``duplicates``: SQL computing the duplicate list in the case's INSERT (PostgreSQL), else None (already
    read); ``guard``: first check that ``subdistrict``'s tokens are still the database's."""
    writes = Batch()
    if guard:
        writes.add(_GUARD_SQL, [subdistrict.pk, subdistrict.places_version, subdistrict.calendar_token,
                                subdistrict.categories_token])
    computed = {"expressions": {"duplicate_candidates": duplicates}, "returns": ("duplicate_candidates",)} \
        if duplicates else {}
    if case.external_id:  # only an external id can collide (unique per source); no savepoint otherwise
        try:
            with transaction.atomic():
                row_insert(case, **computed)
        except IntegrityError as exc:
            raise DomainError("duplicate_external_id", _("该外部编号的工单已存在。")) from exc
    elif not writes.one_trip:
        row_insert(case)  # SQLite: the id comes back from the INSERT (RETURNING), with the number
    else:
        writes.insert(case, **computed)  # the id, number and duplicates come back with the batch
    event = CaseEvent(
        subdistrict=subdistrict, case=case, action="report", to_state=case.state, actor=actor,
        actor_name=str(actor) if actor else reporter_label(intake.source, intake.reporter_name),
        comment=case.description[:500], created_at=now,
        data={"source": intake.source, "deadline": case.deadline_at.isoformat()} if intake.deadline_at else
        {"source": intake.source},  # a deadline the source set binds: registering keeps it
    )
    # Before the batch runs the new case's id is only the database's: the event takes it from the sequence.
    writes.insert(event, expressions=None if case.pk else {"case_id": (
        "currval(pg_get_serial_sequence(%s, %s))", [Case._meta.db_table, Case._meta.pk.column])})
    figures = Batch()
    figures_case_reported(case, batch=figures)  # 绩效考评 kept incrementally (GOV-4), after the audit's lock
    if checked:
        writes.run()  # the photos refer to the event
        event.case_id = case.pk
        photos_store(case=case, event=event, stage=PhotoStage.REPORT, checked=checked)
    # The audit record runs the batch with its chain-head read: on PostgreSQL the case and its event are written in
    # the same round trip; the record itself and the figures go with the COMMIT when the transaction is ours.
    changes = {"source": [None, intake.source], "category": [None, case.category_id], "grid": [None, case.grid_id],
               "reporter_phone": [None, mask_phone(case.reporter_phone)]}
    if intake.deadline_at:
        changes["deadline_at"] = [None, case.deadline_at.isoformat()]
    audit_record(actor=actor, action="case.report", obj=case, batch=writes, commit=commit, after_lock=figures,
                 changes=changes)
    event.case_id = case.pk
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
