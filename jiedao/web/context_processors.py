from django.conf import settings
from django.utils.translation import gettext_lazy as _

from jiedao.kernel.scoping import user_scope

# (url name, label, capability): the UI hides what the user can't do; the service is the gate.
NAVIGATION = (
    ("web:home", _("地图"), "places.view"),
    ("cases:console", _("案件"), "cases.view"),
    ("cases:inbox", _("部门待办"), "cases.handle"),
    ("cases:field", _("网格巡查"), "cases.verify"),
    ("inspections:home", _("巡查检查"), "inspections.view"),
    ("streets:roads", _("路长·河长"), "inspections.view"),
    ("cases:evaluation", _("绩效考评"), "cases.evaluate"),
    ("people:list", _("人口"), "people.view"),
    ("web:alerts", _("预警"), "alerts.view"),
    ("web:audit", _("审计日志"), "audit.view"),
    ("web:lockouts", _("账号锁定"), "users.unlock"),
)


def navigation(request):
    """The modules this user can open, the unread count and the sub-district's name."""
    from jiedao.kernel.models import Notification, Subdistrict

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": [], "site_name": settings.SITE_NAME}
    scope = user_scope(user)
    subdistrict = Subdistrict.objects.filter(pk__in=scope.subdistrict_ids).order_by("pk").first()
    return {
        "nav": [{"url": u, "label": label} for u, label, cap in NAVIGATION if scope.has(cap)],
        "unread_notifications": Notification.objects.visible_to(user).filter(read_at__isnull=True).count(),
        "site_name": settings.SITE_NAME,
        "subdistrict_name": subdistrict.name if subdistrict else "",
        "user_roles": sorted(scope.roles),
        "map_tile_url": settings.MAP_TILE_URL,
        "is_admin_role": bool({"system_admin", "security_admin"} & scope.roles),
    }
