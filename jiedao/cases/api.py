"""/api/v1/cases: list with the console's filters, create, detail, one POST per transition."""

import json
import re

from django.utils.translation import gettext as _
from ninja import File, Form, Query, Router, Schema
from ninja.errors import HttpError, ValidationError
from ninja.files import UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.responses import Status
from pydantic import ValidationError as PydanticValidationError
from pydantic import field_validator

from jiedao.kernel.exceptions import DomainError, PermissionDeniedError
from jiedao.kernel.idempotency import run_idempotent
from jiedao.kernel.scoping import user_scope
from jiedao.kernel.selectors import subdistrict_id_of, subdistrict_of

from . import selectors
from .choices import CaseSource, Urgency
from .evaluation import DIMENSIONS, evaluation
from .schemas import AlarmOut, CaseDetailOut, CaseOut, CategoryOut, HotlineBatchIn, HotlineResultOut, TransitionIn
from .services import case_transition
from .services.alarms import alarm_receive
from .services.hotline import hotline_import, hotline_orders_from_upload
from .services.intake import Intake, case_report
from .workflow import Action

router = Router(tags=["cases"])


class CaseFilters(Schema):
    state: str = ""
    category_id: int | None = None
    grid_id: int | None = None
    department_id: int | None = None
    source: str = ""
    overdue: bool = False
    supervised: bool = False
    q: str = ""
    order: str = "deadline"


@router.get("/categories", response=list[CategoryOut])
@paginate(LimitOffsetPagination)
def categories(request, q: str = "", kind: str = ""):
    return selectors.category_leaves(user=request.user, q=q, kind=kind)


class EvaluationRowOut(Schema):
    key: int | None
    label: str
    reported: int
    registered: int
    dispatched: int
    co_handled: int  # by department: of the assignments dispatched, those as a co-handler (协办)
    closed: int
    on_time_close_rate: float | None
    rework_rate: float | None
    return_rate: float | None
    postponement_rate: float | None
    mean_handling_hours: float | None
    verification_on_time_rate: float | None
    mean_satisfaction: float | None


@router.get("/evaluation", response=list[EvaluationRowOut])
def evaluation_figures(request, month: str, by: str = "department"):
    """绩效考评 figures of one month (``YYYY-MM``) by ``department``, ``grid`` or ``worker`` (formulas: docs/cases.md)."""
    if not user_scope(request.user).has("cases.evaluate"):
        raise PermissionDeniedError("forbidden", _("您没有查看绩效考评的权限。"), capability="cases.evaluate",
                                    actor=request.user)
    if by not in DIMENSIONS or not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise DomainError("invalid_input", _("month 应为 YYYY-MM，by 应为 department、grid 或 worker。"))
    return [r.as_dict() for r in evaluation(user=request.user, month=month, by=by)]


@router.get("", response=list[CaseOut])
@paginate(LimitOffsetPagination)
def case_list(request, filters: Query[CaseFilters]):
    return selectors.case_list(user=request.user, **filters.dict())


class CaseIn(Schema):
    description: str
    category_id: int | None = None
    lat: float | None = None
    lng: float | None = None
    coord_system: str = "wgs84"
    address: str = ""
    urgency: str = Urgency.NORMAL
    title: str = ""

    @field_validator("category_id", "lat", "lng", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        # A form posts an empty hidden field when no position was taken: "not given", not "not a number".
        return None if isinstance(value, str) and not value.strip() else value


@router.post("", response={201: CaseOut})
def case_create(request, payload: Form[CaseIn], photos: File[list[UploadedFile]] = None):
    """Report a case (multipart/form-data, 0–6 photos). Send an Idempotency-Key: a retry returns the first case."""

    def work():
        # The sub-district's row and the category come with the intake's own reads (decision 0013).
        case = case_report(actor=request.user, subdistrict_id=subdistrict_id_of(request.user), intake=Intake(
            source=CaseSource.GRID_WORKER if user_scope(request.user).has("cases.verify") and
            "grid_worker" in user_scope(request.user).roles else CaseSource.STAFF,
            description=payload.description, category_id=payload.category_id, lat=payload.lat, lng=payload.lng,
            coord_system=payload.coord_system, address=payload.address, urgency=payload.urgency,
            title=payload.title, photos=tuple(photos or ())))
        return 201, case

    status, body = run_idempotent(request=request, endpoint="cases.create", work=work,
                                  load=lambda pk: selectors.case_get_visible(user=request.user, case_id=pk))
    # Serialised here, not by ninja: given an instance of the response schema ninja skips validating it again,
    # 0.06 of 0.13 ms per intake, the same bytes (test_case_create_answers_what_the_detail_shows).
    return Status(status, CaseOut.from_orm(body))


@router.post("/import/hotline", response={200: HotlineResultOut, 422: HotlineResultOut})
def import_hotline(request, payload: HotlineBatchIn, commit_valid_rows: bool = False):
    """A batch of 12345 work orders (JSON). A re-sent order number makes no second case. With an error in any
    order nothing is imported (422, the errors per order) unless ``commit_valid_rows=true``."""
    orders = [o.dict() for o in payload.orders]
    return _hotline_answer(hotline_import(actor=request.user, subdistrict=subdistrict_of(request.user), orders=orders,
                                          commit_valid_rows=commit_valid_rows))


@router.post("/import/hotline.xlsx", response={200: HotlineResultOut, 422: HotlineResultOut})
def import_hotline_xlsx(request, file: File[UploadedFile], commit_valid_rows: bool = False):
    """The same as an .xlsx export of the city platform (columns 工单编号, 受理时间, 来电人, …); errors name the row."""
    orders = hotline_orders_from_upload(file)
    return _hotline_answer(hotline_import(actor=request.user, subdistrict=subdistrict_of(request.user), orders=orders,
                                          commit_valid_rows=commit_valid_rows, source="xlsx"))


def _hotline_answer(result):
    return Status(200 if result.committed else 422, result)


@router.get("/{case_id}", response=CaseDetailOut)
def case_detail(request, case_id: int):
    return selectors.case_get_visible(user=request.user, case_id=case_id)


_TRANSITION_BODY = TransitionIn.model_json_schema()
_TRANSITION_FORM = {"allOf": [_TRANSITION_BODY], "properties": {
    "photos": {"type": "array", "items": {"type": "string", "format": "binary"},
               "description": "0–6 photos (JPEG, PNG, HEIC) for the event: feedback, verify, rework …"}}}


@router.post("/{case_id}/{action}", response=CaseDetailOut, openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": _TRANSITION_BODY},
    "multipart/form-data": {"schema": _TRANSITION_FORM}}}})
def case_action(request, case_id: int, action: Action):
    """Apply one workflow transition. ``version`` is the version you saw: a stale one answers 409. As JSON, or as
    multipart/form-data with the same fields and ``photos`` (files) for the event — a department's feedback or a
    grid worker's verification shows the site."""
    payload, photos = _transition_input(request)
    case = selectors.case_get_visible(user=request.user, case_id=case_id)
    data = payload.dict(exclude={"version", "comment"}, exclude_none=True)
    case_transition(actor=request.user, case=case, action=action, expected_version=payload.version,
                    comment=payload.comment, photos=photos, **data)
    return selectors.case_get_visible(user=request.user, case_id=case_id)


def _transition_input(request) -> tuple[TransitionIn, tuple]:
    """The body as JSON or as a form with files. Read here, not by a ninja parameter: ninja takes a body either as
    JSON or as a form, and a JSON body parameter would read a multipart body into memory whole, photos included."""
    if request.content_type == "multipart/form-data":
        raw = {key: request.POST.getlist(key) if key == "co_department_ids" else request.POST[key]
               for key in request.POST}
        photos = tuple(request.FILES.getlist("photos"))
    else:
        try:
            raw = json.loads(request.body or b"{}")
        except ValueError as exc:
            raise HttpError(400, _("请求数据不是有效的 JSON。")) from exc
        photos = ()
    try:
        return TransitionIn.model_validate(raw if isinstance(raw, dict) else {}), photos
    except PydanticValidationError as exc:
        raise ValidationError([{**e, "loc": ("body", "payload", *e["loc"])} for e in exc.errors()]) from exc


alarms_router = Router(tags=["alarms"])


@alarms_router.post("", auth=None, response={201: AlarmOut, 200: AlarmOut})
def alarm(request):
    """Sensor/video alarm webhook, signed per device source (see docs/cases.md)."""
    case, created = alarm_receive(source_code=request.headers.get("X-Jiedao-Source", ""),
                                  timestamp=request.headers.get("X-Jiedao-Timestamp", ""),
                                  signature=request.headers.get("X-Jiedao-Signature", ""), body=request.body)
    return Status(201 if created else 200, {"case_id": case.pk, "number": case.number, "created": created})
