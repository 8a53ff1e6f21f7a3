"""Writes of the kernel: org units, users, memberships, calendar days. Each one audited."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils.translation import gettext as _

from .audit import audit_record
from .error_codes import KernelErrorCode
from .exceptions import DomainError
from .models import CalendarDay, Membership, OrgUnit, Subdistrict, User
from .permissions import require_capability
from .roles import ADMIN_ROLES, ROLES, Cap
from .scoping import invalidate_scope, scope_changed


@transaction.atomic
def subdistrict_create(*, actor, code: str, name: str, district: str = "", centre_lat: float = 0,
                       centre_lng: float = 0) -> Subdistrict:
    """New tenant. Only the break-glass superuser (command line) or a system admin of the deployment."""
    if actor is not None and not actor.is_superuser:
        require_capability(actor, Cap.ORG_MANAGE)
    sub = Subdistrict.objects.create(code=code, name=name, district=district, centre_lat=centre_lat,
                                     centre_lng=centre_lng)
    audit_record(actor=actor, action="subdistrict.create", obj=sub, subdistrict_id=sub.pk)
    return sub


def _set_path(unit: OrgUnit) -> None:
    prefix = unit.parent.path if unit.parent_id else "/"
    unit.path = f"{prefix}{unit.pk}/"
    OrgUnit.objects.filter(pk=unit.pk).update(path=unit.path)
    scope_changed(subdistrict_id=unit.subdistrict_id)  # the path decides subtrees: after it is set


@transaction.atomic
def org_unit_create(*, actor, subdistrict: Subdistrict, kind: str, code: str, name: str,
                    parent: OrgUnit | None = None, preparatory: bool = False) -> OrgUnit:
    if actor is not None:
        require_capability(actor, Cap.ORG_MANAGE)
    if parent is not None and parent.subdistrict_id != subdistrict.pk:
        raise DomainError(KernelErrorCode.INVALID_INPUT, _("上级组织不属于同一街道。"))
    unit = OrgUnit.objects.create(subdistrict=subdistrict, kind=kind, code=code, name=name, parent=parent,
                                  preparatory=preparatory)
    _set_path(unit)
    audit_record(actor=actor, action="org_unit.create", obj=unit,
                 changes={"name": [None, name], "kind": [None, kind], "preparatory": [None, preparatory]})
    return unit


@transaction.atomic
def org_unit_update(*, actor, unit: OrgUnit, name: str | None = None, preparatory: bool | None = None,
                    active: bool | None = None) -> OrgUnit:
    require_capability(actor, Cap.ORG_MANAGE, obj=unit)
    before = {"name": unit.name, "preparatory": unit.preparatory, "active": unit.active}
    if name is not None:
        unit.name = name
    if preparatory is not None:
        unit.preparatory = preparatory
    if active is not None:
        unit.active = active
    unit.save(update_fields=["name", "preparatory", "active"])
    after = {"name": unit.name, "preparatory": unit.preparatory, "active": unit.active}
    from .audit import diff

    audit_record(actor=actor, action="org_unit.update", obj=unit, changes=diff(before, after))
    return unit


@transaction.atomic
def user_create(*, actor, username: str, password: str, display_name: str = "", email: str = "") -> User:
    if actor is not None:
        require_capability(actor, Cap.USERS_MANAGE)
    user = User(username=username, display_name=display_name, email=email)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    audit_record(actor=actor, action="user.create", obj=user)
    return user


@transaction.atomic
def membership_grant(*, actor, user: User, org_unit: OrgUnit, role: str) -> Membership:
    """Give ``user`` a role in ``org_unit``. The three administrator roles exclude each other."""
    if actor is not None:
        require_capability(actor, Cap.USERS_MANAGE)
    if role not in ROLES:
        raise DomainError(KernelErrorCode.INVALID_INPUT, _("未知角色。"), fields={"role": role})
    held = set(Membership.objects.filter(user=user, active=True).values_list("role", flat=True))
    if role in ADMIN_ROLES and (held - {role}) & ADMIN_ROLES:
        raise DomainError(KernelErrorCode.ADMIN_ROLES_EXCLUSIVE,
                          _("系统管理员、安全管理员、审计管理员三个角色不能由同一人兼任。"))
    membership, _created = Membership.objects.get_or_create(user=user, org_unit=org_unit, role=role,
                                                            defaults={"active": True})
    if not membership.active:
        membership.active = True
        membership.save(update_fields=["active"])
    audit_record(actor=actor, action="membership.grant", obj=membership, subdistrict_id=org_unit.subdistrict_id,
                 changes={"user": [None, user.username], "role": [None, role], "org_unit": [None, org_unit.name]})
    invalidate_scope(user)
    return membership


@transaction.atomic
def membership_revoke(*, actor, membership: Membership) -> None:
    require_capability(actor, Cap.USERS_MANAGE, obj=membership)
    Membership.objects.filter(pk=membership.pk).update(active=False)
    scope_changed(user_ids=[membership.user_id])
    audit_record(actor=actor, action="membership.revoke", obj=membership,
                 subdistrict_id=membership.org_unit.subdistrict_id,
                 changes={"active": [True, False]})


_calendar_listeners: list = []


def register_calendar_listener(fn) -> None:
    """An app whose stored figures depend on working time (cases: 绩效考评) registers here, in its
    ``AppConfig.ready()``, to be told in the same transaction which days of the calendar changed."""
    if fn not in _calendar_listeners:
        _calendar_listeners.append(fn)


def calendar_days_changed(*, subdistrict_id: int | None, dates) -> None:
    """Every writer of CalendarDay calls this (the service below and the admin), after its audit record."""
    for fn in _calendar_listeners:
        fn(subdistrict_id=subdistrict_id, dates=sorted(set(dates)))


@transaction.atomic
def calendar_day_set(*, actor, date, kind: str, name: str = "", subdistrict: Subdistrict | None = None) -> CalendarDay:
    """Enter a holiday or make-up workday (e.g. next year's schedule, published each autumn)."""
    if actor is not None:
        require_capability(actor, Cap.CALENDAR_MANAGE)
    day, created = CalendarDay.objects.update_or_create(
        subdistrict=subdistrict, date=date, defaults={"kind": kind, "name": name}
    )
    audit_record(actor=actor, action="calendar_day.set", obj=day,
                 subdistrict_id=subdistrict.pk if subdistrict else None,
                 changes={"date": [None, str(date)], "kind": [None, kind], "name": [None, name]})
    calendar_days_changed(subdistrict_id=subdistrict.pk if subdistrict else None, dates=[day.date])
    return day
