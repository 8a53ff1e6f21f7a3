"""Authentication events: login (web and API token), failures, lockouts, logout — all audited."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from .audit import audit_record
from .error_codes import KernelErrorCode
from .exceptions import DomainError
from .models import ApiToken
from .models.audit import AuditOutcome


class AuthError(DomainError):
    status = 401


def lockout_response(request, *args, **kwargs):
    """django-axes calls this when a username+IP pair is locked out."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"code": KernelErrorCode.LOCKED_OUT, "message": _("登录失败次数过多，账号已锁定30分钟。"), "fields": {}},
            status=429,
        )
    return render(request, "kernel/locked_out.html", status=429)


def auth_check_credentials(*, request, username: str, password: str):
    """Authenticate through django-axes; audit the outcome. Returns the user or raises AuthError."""
    user = authenticate(request=request, username=username, password=password)
    if getattr(request, "axes_locked_out", False):
        audit_record(actor=None, action="auth.lockout", outcome=AuditOutcome.DENIED, username=username)
        raise AuthError(KernelErrorCode.LOCKED_OUT, _("登录失败次数过多，账号已锁定30分钟。"), status=429)
    if user is None or not user.is_active:
        audit_record(actor=None, action="auth.login_failed", outcome=AuditOutcome.FAILURE, username=username)
        raise AuthError(KernelErrorCode.INVALID_CREDENTIALS, _("用户名或密码错误。"))
    if user.is_superuser:
        # Break-glass accounts work from the command line only.
        audit_record(actor=user, action="auth.login_refused_superuser", outcome=AuditOutcome.DENIED)
        raise AuthError(KernelErrorCode.INVALID_CREDENTIALS, _("超级用户只能在命令行中使用。"))
    return user


def auth_record_login(*, user, channel: str) -> None:
    audit_record(actor=user, action="auth.login", changes={"channel": [None, channel]})


def auth_record_logout(*, user, reason: str = "logout") -> None:
    audit_record(actor=user, action="auth.logout", reason=reason)


def api_token_create(*, request, username: str, password: str) -> str:
    user = auth_check_credentials(request=request, username=username, password=password)
    raw = secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, digest=ApiToken.digest_of(raw),
                            expires_at=timezone.now() + settings.API_TOKEN_LIFETIME)
    auth_record_login(user=user, channel="api_token")
    return raw


def api_token_user(raw: str):
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=ApiToken.digest_of(raw), expires_at__gt=timezone.now(), user__is_active=True)
        .first()
    )
    if token is None or token.user.is_superuser:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
