import datetime as dt

from ninja import Query, Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.responses import Status

from . import alerts as alert_services
from . import selectors
from .auth import AuthError, api_token_create
from .error_codes import KernelErrorCode
from .exceptions import PermissionDeniedError
from .schemas import AlertOut, AuditOut, ErrorOut, MeOut, OrgUnitOut, TokenIn, TokenOut
from .scoping import user_scope

router = Router(tags=["kernel"])


@router.post("/auth/token", auth=None, response={200: TokenOut, 401: ErrorOut, 429: ErrorOut})
def token(request, payload: TokenIn):
    """Exchange username and password for a bearer token (same lockout rules as the login page)."""
    try:
        return Status(200, {"token": api_token_create(request=request, username=payload.username,
                                                      password=payload.password)})
    except AuthError as exc:
        return Status(exc.status, {"code": exc.code, "message": exc.message, "fields": {}})


@router.get("/me", response=MeOut)
def me(request):
    scope = user_scope(request.user)
    return {"id": request.user.pk, "username": request.user.username, "display_name": request.user.display_name,
            "roles": sorted(scope.roles), "capabilities": sorted(scope.caps)}


@router.get("/org-units", response=list[OrgUnitOut])
@paginate(LimitOffsetPagination)
def org_units(request, kind: str = ""):
    return selectors.org_unit_list(user=request.user, kind=kind)


@router.get("/org-units/{org_unit_id}", response=OrgUnitOut)
def org_unit(request, org_unit_id: int):
    return selectors.org_unit_get_visible(user=request.user, org_unit_id=org_unit_id)


@router.get("/alerts", response=list[AlertOut])
@paginate(LimitOffsetPagination)
def alerts(request, state: str = ""):
    return selectors.alert_list(user=request.user, state=state)


@router.get("/alerts/{alert_id}", response=AlertOut)
def alert(request, alert_id: int):
    return selectors.alert_get_visible(user=request.user, alert_id=alert_id)


@router.post("/alerts/{alert_id}/acknowledge", response=AlertOut)
def alert_acknowledge(request, alert_id: int):
    obj = selectors.alert_get_visible(user=request.user, alert_id=alert_id)
    return alert_services.alert_acknowledge(actor=request.user, alert=obj)


@router.post("/alerts/{alert_id}/resolve", response=AlertOut)
def alert_resolve(request, alert_id: int):
    obj = selectors.alert_get_visible(user=request.user, alert_id=alert_id)
    return alert_services.alert_resolve(actor=request.user, alert=obj)


class AuditFilters(Schema):
    action: str = ""
    actor: str = ""
    object_type: str = ""
    object_id: str = ""
    outcome: str = ""
    since: dt.date | None = None
    until: dt.date | None = None


@router.get("/audit", response=list[AuditOut])
@paginate(LimitOffsetPagination)
def audit(request, filters: Query[AuditFilters]):
    if not user_scope(request.user).has("audit.view"):
        raise PermissionDeniedError(KernelErrorCode.FORBIDDEN, "您没有查看审计日志的权限。", capability="audit.view",
                                    actor=request.user)
    return selectors.audit_list(user=request.user, **filters.dict())


@router.get("/audit/{record_id}", response=AuditOut)
def audit_record(request, record_id: int):
    return selectors.audit_get_visible(user=request.user, record_id=record_id)
