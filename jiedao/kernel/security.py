"""Security administrator's tools: lockouts and unlocks (django-axes keeps the attempts)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .audit import audit_record
from .permissions import require_capability
from .roles import Cap


def lockout_list(*, user):
    """Username+IP pairs currently locked out. Only for holders of users.unlock."""
    from axes.models import AccessAttempt

    require_capability(user, Cap.USERS_UNLOCK)
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    return AccessAttempt.objects.filter(failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
                                        attempt_time__gte=since).order_by("-attempt_time")


@transaction.atomic
def user_unlock(*, actor, username: str, ip: str | None = None) -> int:
    from axes.utils import reset

    require_capability(actor, Cap.USERS_UNLOCK)
    count = reset(username=username, ip=ip) if ip else reset(username=username)
    audit_record(actor=actor, action="auth.unlock", object_type="kernel.user", object_id=username[:64],
                 changes={"ip": [None, ip or "*"], "attempts_cleared": [None, count]})
    return count
