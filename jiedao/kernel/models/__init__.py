from .alerts import Alert, Notification
from .audit import AuditRecord
from .calendar import CalendarDay
from .idempotency import IdempotencyKey
from .org import OrgUnit, OrgUnitKind, Subdistrict
from .users import ApiToken, Membership, User

__all__ = [
    "Alert",
    "ApiToken",
    "AuditRecord",
    "CalendarDay",
    "IdempotencyKey",
    "Membership",
    "Notification",
    "OrgUnit",
    "OrgUnitKind",
    "Subdistrict",
    "User",
]
