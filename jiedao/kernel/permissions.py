"""Capability checks: the service is the gate (DESIGN §4.3)."""

from django.utils.translation import gettext as _

from .error_codes import KernelErrorCode
from .exceptions import NotFound, PermissionDeniedError
from .scoping import user_scope


def has_capability(user, cap: str) -> bool:
    return user_scope(user).has(str(cap))


def require_capability(actor, cap: str, *, obj=None) -> None:
    """Raise unless ``actor`` holds ``cap`` and (when given) can see ``obj``.

    An object outside the scope is reported as not found, never as forbidden,
    so its existence does not leak.
    """
    if not has_capability(actor, cap):
        raise PermissionDeniedError(
            KernelErrorCode.FORBIDDEN, _("您没有执行此操作的权限。"), capability=str(cap), obj=obj, actor=actor
        )
    if obj is not None and obj.pk is not None:
        if not type(obj).objects.visible_to(actor).filter(pk=obj.pk).exists():
            raise NotFound(KernelErrorCode.NOT_FOUND, _("对象不存在。"))
