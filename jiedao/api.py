"""The one NinjaAPI: every app's router is mounted here; errors are mapped here."""

from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth

from jiedao.kernel.audit import audit_record
from jiedao.kernel.auth import api_token_user
from jiedao.kernel.exceptions import DomainError, PermissionDeniedError


class BearerAuth(HttpBearer):
    def authenticate(self, request, token):
        user = api_token_user(token)
        if user is not None:
            request.user = user
        return user


# SessionAuth checks CSRF (cookie-authenticated calls from the web UI); bearer calls need none.
api = NinjaAPI(
    title="街道 Jiedao API",
    version="1",
    urls_namespace="api",
    auth=[BearerAuth(), SessionAuth()],  # bearer first: SessionAuth checks CSRF before anything else
    docs_url="/docs",
)


def _error(request, status: int, code: str, message: str, fields: dict | None = None):
    return api.create_response(request, {"code": code, "message": message, "fields": fields or {}}, status=status)


@api.exception_handler(PermissionDeniedError)
def _denied(request, exc: PermissionDeniedError):
    audit_record(actor=exc.actor or request.user, action="authz.denied", obj=exc.obj, outcome="denied",
                 changes={"capability": [None, exc.capability], "path": [None, request.path[:150]]})
    return _error(request, 403, exc.code, exc.message)


@api.exception_handler(DomainError)
def _domain(request, exc: DomainError):
    return _error(request, exc.status, exc.code, exc.message, exc.fields)


@api.exception_handler(ValidationError)
def _validation(request, exc: ValidationError):
    fields = {}
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "payload", "query", "path", "form")]
        fields[".".join(loc) or "request"] = err.get("msg", "invalid")
    return _error(request, 400, "invalid_input", _("请求数据不正确。"), fields)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return _error(request, 401, "not_authenticated", _("请先登录。"))


@api.exception_handler(HttpError)
def _http(request, exc: HttpError):
    return _error(request, exc.status_code, "http_error", str(exc))


def _mount() -> None:
    from jiedao.cases.api import alarms_router
    from jiedao.cases.api import router as cases_router
    from jiedao.inspections.api import router as inspections_router
    from jiedao.kernel.api import router as kernel_router
    from jiedao.people.api import router as people_router
    from jiedao.places.api import router as places_router
    from jiedao.streets.api import router as streets_router

    api.add_router("/", kernel_router)
    api.add_router("/places", places_router)
    api.add_router("/people", people_router)
    api.add_router("/cases", cases_router)
    api.add_router("/alarms", alarms_router)
    api.add_router("/inspections", inspections_router)
    api.add_router("/streets", streets_router)


_mount()
