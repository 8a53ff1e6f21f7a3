"""/api/v1/inspections: templates, plans, the due list, inspections (create, detail), scores."""

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.responses import Status

from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.idempotency import run_idempotent
from jiedao.kernel.models import User
from jiedao.kernel.scoping import user_scope
from jiedao.kernel.selectors import subdistrict_of

from . import selectors
from .models import ChecklistTemplate, InspectionPlan
from .schemas import DueOut, InspectionIn, InspectionOut, PlanIn, PlanOut, ScoreOut, TemplateOut
from .services.inspect import inspection_submit
from .services.plans import plan_create

router = Router(tags=["inspections"])


@router.get("/templates", response=list[TemplateOut])
@paginate(LimitOffsetPagination)
def templates(request, status: str = "active"):
    qs = ChecklistTemplate.objects.visible_to(request.user).prefetch_related("items")
    return qs.filter(status=status) if status else qs


@router.get("/templates/{template_id}", response=TemplateOut)
def template_detail(request, template_id: int):
    return selectors.template_get_visible(user=request.user, template_id=template_id)


@router.get("/plans", response=list[PlanOut])
@paginate(LimitOffsetPagination)
def plans(request):
    return InspectionPlan.objects.visible_to(request.user).order_by("name")


@router.post("/plans", response={201: PlanOut})
def plan_new(request, payload: PlanIn):
    inspector = User.objects.filter(pk=payload.inspector_id, is_active=True,
                                    memberships__org_unit__subdistrict_id__in=user_scope(request.user).subdistrict_ids) \
        .distinct().first()
    if inspector is None:
        raise DomainError("not_found", _("检查人不存在。"), status=404)
    plan = plan_create(actor=request.user, subdistrict=subdistrict_of(request.user), name=payload.name,
                       template_code=payload.template_code, inspector=inspector, frequency=payload.frequency,
                       start_date=payload.start_date, end_date=payload.end_date, workdays_only=payload.workdays_only,
                       dates=payload.dates, targets=[tuple(t) for t in payload.targets])
    return Status(201, plan)


@router.get("/due", response=list[DueOut])
def due(request, on: dt.date | None = None):
    """The signed-in inspector's due list (what is open on ``on``, default today)."""
    return selectors.due_list(user=request.user, on=on or timezone.localdate())


@router.post("", response={201: InspectionOut})
def inspection_create(request, payload: InspectionIn):
    """Record an inspection (JSON). Send an Idempotency-Key: the phone page retries after a lost signal."""

    def work():
        template = selectors.template_get_visible(user=request.user, template_id=payload.template_id)
        plan = selectors.plan_get_visible(user=request.user, plan_id=payload.plan_id) if payload.plan_id else None
        ins = inspection_submit(actor=request.user, subdistrict=subdistrict_of(request.user), template=template, plan=plan,
                                target_type=payload.target_type, target_id=payload.target_id, answers=payload.answers,
                                started_at=payload.started_at, finished_at=payload.finished_at, track=payload.track,
                                notes=payload.notes)
        return 201, ins

    status, body = run_idempotent(request=request, endpoint="inspections.create", work=work,
                                  load=lambda pk: selectors.inspection_get_visible(user=request.user, inspection_id=pk))
    return Status(status, body)


@router.get("/scores", response=list[ScoreOut])
def score_list(request, template_code: str, month: str, by: str = "target"):
    if by not in ("target", "grid"):
        raise DomainError("invalid_input", _("by 应为 target 或 grid。"))
    try:
        return selectors.scores(user=request.user, template_code=template_code, month=month, by=by)
    except ValueError:
        raise DomainError("invalid_input", _("month 应为 YYYY-MM。")) from None


class TrendOut(Schema):
    month: str
    avg_score: float


@router.get("/scores/trend", response=list[TrendOut])
def score_trend(request, template_code: str, target_type: str, target_id: int, months: int = 6):
    """Monthly average score of one target over the last ``months`` months (e.g. a compound's garbage sorting)."""
    if not 1 <= months <= 24:
        raise DomainError("invalid_input", _("months 应在1到24之间。"))
    return selectors.score_trend(user=request.user, template_code=template_code, target_type=target_type,
                                 target_id=target_id, months=months)


@router.get("/{inspection_id}", response=InspectionOut)
def inspection_detail(request, inspection_id: int):
    return selectors.inspection_get_visible(user=request.user, inspection_id=inspection_id)
