"""Roles and their capabilities: the one table (DESIGN §4.3).

A role also says how far its holder sees: ``SUBTREE`` is the org unit of the
membership and everything below it; ``SUBDISTRICT`` is the whole sub-district
of the membership (the grid centre and leaders need the whole area); ``NONE``
sees no domain data at all (the three administrator roles of 等保 level 3
configure, manage users or read the audit log, but never read residents).
"""

from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext_lazy as _


class Reach(StrEnum):
    NONE = "none"
    SUBTREE = "subtree"
    SUBDISTRICT = "subdistrict"


class Cap(StrEnum):
    # configuration (system administrator)
    ORG_MANAGE = "org.manage"
    PLACES_MANAGE = "places.manage"
    CONFIG_MANAGE = "config.manage"
    CALENDAR_MANAGE = "calendar.manage"
    # security administrator
    USERS_MANAGE = "users.manage"
    USERS_UNLOCK = "users.unlock"
    KEYS_ROTATE = "keys.rotate"
    # audit administrator
    AUDIT_VIEW = "audit.view"
    AUDIT_VERIFY = "audit.verify"
    AUDIT_EXPORT = "audit.export"
    # domain
    PLACES_VIEW = "places.view"
    PEOPLE_VIEW = "people.view"
    PEOPLE_EDIT = "people.edit"
    PEOPLE_IMPORT = "people.import"
    PEOPLE_EXPORT = "people.export"
    PEOPLE_REVEAL = "people.reveal"
    ALERTS_VIEW = "alerts.view"
    ALERTS_HANDLE = "alerts.handle"
    COCKPIT_VIEW = "cockpit.view"
    # cases (一网统管)
    CASES_VIEW = "cases.view"
    CASES_REPORT = "cases.report"
    CASES_REGISTER = "cases.register"
    CASES_DISPATCH = "cases.dispatch"
    CASES_HANDLE = "cases.handle"
    CASES_VERIFY = "cases.verify"
    CASES_CLOSE = "cases.close"
    CASES_APPROVE_POSTPONE = "cases.approve_postpone"
    CASES_SUPERVISE = "cases.supervise"
    CASES_FOLLOW_UP = "cases.follow_up"
    CASES_MERGE = "cases.merge"
    CASES_EVALUATE = "cases.evaluate"
    CASES_IMPORT = "cases.import"
    # inspections (巡查检查)
    INSPECTIONS_VIEW = "inspections.view"
    INSPECTIONS_DO = "inspections.do"
    INSPECTIONS_MANAGE = "inspections.manage"


@dataclass(frozen=True)
class Role:
    code: str
    label: str
    reach: Reach
    caps: frozenset[Cap]
    admin_role: bool = False  # one of the three separated administrator roles


_DOMAIN_VIEW = {Cap.PLACES_VIEW, Cap.ALERTS_VIEW, Cap.CASES_VIEW, Cap.INSPECTIONS_VIEW}
_INSPECT = {Cap.INSPECTIONS_DO}
_CENTRE = {Cap.CASES_REPORT, Cap.CASES_REGISTER, Cap.CASES_DISPATCH, Cap.CASES_VERIFY, Cap.CASES_CLOSE,
           Cap.CASES_APPROVE_POSTPONE, Cap.CASES_SUPERVISE, Cap.CASES_FOLLOW_UP, Cap.CASES_MERGE, Cap.CASES_EVALUATE,
           Cap.CASES_IMPORT, Cap.INSPECTIONS_MANAGE}

ROLES: dict[str, Role] = {
    r.code: r
    for r in (
        Role("system_admin", _("系统管理员"), Reach.SUBDISTRICT,
             frozenset({Cap.ORG_MANAGE, Cap.PLACES_MANAGE, Cap.CONFIG_MANAGE, Cap.CALENDAR_MANAGE,
                        Cap.PLACES_VIEW, Cap.ALERTS_VIEW, Cap.ALERTS_HANDLE, Cap.INSPECTIONS_MANAGE}), admin_role=True),
        Role("security_admin", _("安全管理员"), Reach.NONE,
             frozenset({Cap.USERS_MANAGE, Cap.USERS_UNLOCK, Cap.KEYS_ROTATE}), admin_role=True),
        Role("audit_admin", _("审计管理员"), Reach.NONE,
             frozenset({Cap.AUDIT_VIEW, Cap.AUDIT_VERIFY, Cap.AUDIT_EXPORT}), admin_role=True),
        Role("leader", _("街道领导"), Reach.SUBDISTRICT,
             frozenset(_DOMAIN_VIEW | {Cap.COCKPIT_VIEW, Cap.CASES_SUPERVISE, Cap.CASES_EVALUATE})),
        Role("dispatcher", _("网格中心调度员"), Reach.SUBDISTRICT,
             frozenset(_DOMAIN_VIEW | _CENTRE | {Cap.ALERTS_HANDLE})),
        Role("department_handler", _("职能部门处置人员"), Reach.SUBTREE, frozenset(_DOMAIN_VIEW | _INSPECT | {Cap.CASES_HANDLE})),
        Role("grid_worker", _("网格员"), Reach.SUBTREE,
             frozenset(_DOMAIN_VIEW | _INSPECT | {Cap.PEOPLE_VIEW, Cap.CASES_REPORT, Cap.CASES_VERIFY})),
        Role("rc_staff", _("居委会工作人员"), Reach.SUBTREE,
             frozenset(_DOMAIN_VIEW | {Cap.PEOPLE_VIEW, Cap.PEOPLE_EDIT, Cap.PEOPLE_IMPORT,
                                       Cap.PEOPLE_EXPORT, Cap.PEOPLE_REVEAL, Cap.ALERTS_HANDLE, Cap.CASES_REPORT,
                                       Cap.INSPECTIONS_DO})),
        Role("service_specialist", _("服务专员"), Reach.SUBTREE, frozenset(_DOMAIN_VIEW | _INSPECT | {Cap.CASES_REPORT})),
        Role("road_chief", _("路长"), Reach.SUBTREE, frozenset(_DOMAIN_VIEW | _INSPECT | {Cap.CASES_REPORT})),
        Role("river_chief", _("河长"), Reach.SUBTREE, frozenset(_DOMAIN_VIEW | _INSPECT | {Cap.CASES_REPORT})),
    )
}

ADMIN_ROLES = frozenset(code for code, role in ROLES.items() if role.admin_role)
ROLE_CHOICES = [(code, role.label) for code, role in ROLES.items()]


def role_get(code: str) -> Role:
    return ROLES[code]
