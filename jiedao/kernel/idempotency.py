"""Idempotency-Key handling for creating endpoints (DESIGN §4.7).

The key is claimed in its own transaction before the work runs: a retry that
arrives while the first call is still running gets 409, a retry after it
gets the stored first result. A failed first call releases the key.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from .error_codes import KernelErrorCode
from .exceptions import ConflictError, DomainError
from .models import IdempotencyKey


def run_idempotent(*, request, endpoint: str, work: Callable[[], tuple[int, object]],
                   load: Callable[[int], object]) -> tuple[int, object]:
    """Run ``work`` once per key. It returns (status, created object); a retry gets ``load(id)`` of that object,
    so the response is the same resource, serialised the same way."""
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key:
        return work()
    if len(key) > 128:
        raise DomainError(KernelErrorCode.INVALID_INPUT, _("Idempotency-Key 过长（最多128个字符）。"))
    user = request.user if request.user.is_authenticated else None
    try:
        with transaction.atomic():
            claim = IdempotencyKey.objects.create(user=user, key=key, endpoint=endpoint)
    except IntegrityError:
        first = IdempotencyKey.objects.get(user=user, key=key, endpoint=endpoint)
        if first.status == 0:
            raise ConflictError("request_in_progress", _("相同的请求正在处理中，请稍后重试。")) from None
        return first.status, load(first.body["id"])
    try:
        status, obj = work()
    except Exception:
        IdempotencyKey.objects.filter(pk=claim.pk).delete()
        raise
    IdempotencyKey.objects.filter(pk=claim.pk).update(status=status, body={"id": obj.pk})
    return status, obj
