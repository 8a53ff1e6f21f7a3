"""Reads of the kernel, scoped."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from .calendar import SHANGHAI
from .exceptions import DomainError, NotFound
from .models import Alert, AuditRecord, OrgUnit, Subdistrict
from .rows import row_get
from .scoping import user_scope


def subdistrict_id_of(user) -> int:
    """The id of the sub-district a user works in (the first, for the rare user of several): where their writes
    go. From the user's scope: no query."""
    ids = sorted(user_scope(user).subdistrict_ids)
    if not ids:
        raise DomainError("no_subdistrict", _("您不属于任何街道。"), status=403)
    return ids[0]


def subdistrict_of(user) -> Subdistrict:
    """The row of ``subdistrict_id_of(user)``."""
    # The id comes from the user's own scope, so no further filter is needed; the row is read fresh each time
    # because its tokens key the per-process caches (decision 0009).
    subdistrict = row_get(Subdistrict, subdistrict_id_of(user))
    if subdistrict is None:
        raise Subdistrict.DoesNotExist
    return subdistrict


def public_subdistrict(code: str = "") -> Subdistrict | None:
    """The sub-district a public page or API addresses by its code (Open311's ``jurisdiction_id``, the residents'
    page's ``?sd=``), or None for an unknown code, never another sub-district. Without a code, the installation's
    only sub-district, or None where there are several (the caller asks which: ``public_subdistricts``).
    Unscoped on purpose: these callers have no user."""
    if code:
        return Subdistrict.objects.filter(code=code).first()
    only = list(Subdistrict.objects.order_by("pk")[:2])
    return only[0] if len(only) == 1 else None


def public_subdistricts():
    """Every sub-district's code and name, for a public page that asks which one (unscoped, like the above)."""
    return Subdistrict.objects.order_by("code").values("code", "name", "district")


def org_unit_list(*, user, kind: str = ""):
    qs = OrgUnit.objects.visible_to(user)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("path")


def org_unit_get_visible(*, user, org_unit_id: int) -> OrgUnit:
    unit = OrgUnit.objects.visible_to(user).filter(pk=org_unit_id).first()
    if unit is None:
        raise NotFound("not_found", "对象不存在。")
    return unit


def alert_list(*, user, state: str = ""):
    qs = Alert.objects.visible_to(user)
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("-raised_at")


def alert_get_visible(*, user, alert_id: int) -> Alert:
    alert = Alert.objects.visible_to(user).filter(pk=alert_id).first()
    if alert is None:
        raise NotFound("not_found", "对象不存在。")
    return alert


def audit_list(*, user, action: str = "", actor: str = "", object_type: str = "", object_id: str = "",
               outcome: str = "", since: dt.date | None = None, until: dt.date | None = None):
    qs = AuditRecord.objects.visible_to(user)
    if action:
        qs = qs.filter(action__startswith=action)
    if actor:
        qs = qs.filter(actor_username=actor)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if outcome:
        qs = qs.filter(outcome=outcome)
    # Days in Shanghai time as a range of moments (not created_at::date), which (subdistrict, created_at) serves.
    if since:
        qs = qs.filter(created_at__gte=_day_start(since))
    if until:
        qs = qs.filter(created_at__lt=_day_start(until + dt.timedelta(days=1)))
    return qs.order_by("-id")  # newest first across lanes (decision 0017)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI)


def audit_get_visible(*, user, record_id: int) -> AuditRecord:
    record = AuditRecord.objects.visible_to(user).filter(pk=record_id).first()
    if record is None:
        raise NotFound("not_found", "对象不存在。")
    return record
