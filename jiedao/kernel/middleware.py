"""Request context, session time limits and the login requirement."""

from __future__ import annotations

import ipaddress
import time
import uuid
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect

from . import context
from .public import is_public


def client_ip(request) -> str:
    """The client's address, for the audit log, rate limits and login lockouts (RATELIMIT_IP_META_KEY,
    AXES_CLIENT_IP_CALLABLE). Behind reverse proxies (``JIEDAO_TRUST_PROXY`` = how many, docs/operations.md) it is
    the X-Forwarded-For entry the outermost trusted proxy added: each proxy appends the address it was called
    from, so the entries left of that one are whatever the client sent and prove nothing."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = getattr(settings, "TRUST_PROXY", 0)
    if hops:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(forwarded) >= hops:
            candidate = forwarded[-hops]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass  # not an address: what the nearest proxy saw is all we know
    return remote


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = request.META.get("HTTP_X_REQUEST_ID", "")[:64] or uuid.uuid4().hex
        request.request_id = rid
        token = context.set_current(
            context.RequestContext(request_id=rid, ip=client_ip(request),
                                   user_agent=request.META.get("HTTP_USER_AGENT", "")[:255])
        )
        try:
            response = self.get_response(request)
        finally:
            context.reset(token)
        response["X-Request-ID"] = rid
        return response


class SessionTimeoutMiddleware:
    """Idle timeout (30 min) and absolute lifetime (12 h) of a logged-in session."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = int(time.time())
            started = request.session.get("jiedao_login_at")
            last = request.session.get("jiedao_last_seen", now)
            if started is None:
                request.session["jiedao_login_at"] = started = now
            if now - last > settings.SESSION_IDLE_TIMEOUT or now - started > settings.SESSION_COOKIE_AGE:
                from .auth import auth_record_logout

                auth_record_logout(user=user, reason="timeout")
                logout(request)
            else:
                # Only write the session when a minute has passed: fewer writes, same limits.
                if now - last >= 60 or "jiedao_last_seen" not in request.session:
                    request.session["jiedao_last_seen"] = now
        return self.get_response(request)


class LoginRequiredMiddleware:
    """Every page and endpoint requires login unless `kernel.public` declares it public."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        path = request.path_info
        if (user is not None and user.is_authenticated) or is_public(path):
            return self.get_response(request)
        if path.startswith("/api/"):
            if request.META.get("HTTP_AUTHORIZATION", "").startswith("Bearer "):
                return self.get_response(request)  # the API's bearer auth decides
            return JsonResponse({"code": "not_authenticated", "message": "请先登录。", "fields": {}}, status=401)
        return redirect(f"{settings.LOGIN_URL}?next={quote(request.get_full_path())}")


class ChineseFirstLocaleMiddleware:
    """Chinese unless the user chose otherwise (the language cookie set by the switcher).

    Django's LocaleMiddleware would follow the browser's Accept-Language; staff on English-language browsers
    would then get English without asking for it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.utils import translation

        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        # Only for this request: the thread goes back to the default afterwards, so code that runs later in it
        # (the test client's next call, a task run eagerly) does not inherit a user's English.
        with translation.override(language):
            request.LANGUAGE_CODE = translation.get_language()
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response
