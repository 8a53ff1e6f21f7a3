"""One application error class, mapped to HTTP in one place (api.py / web error views)."""

from enum import StrEnum


class DomainError(Exception):
    """A refused or impossible request. ``code`` is machine-readable, ``message`` is for people."""

    status = 400

    def __init__(self, code: StrEnum | str, message: str = "", *, fields: dict | None = None, status: int | None = None):
        self.code = str(code)
        self.message = str(message or code)
        self.fields = fields or {}
        if status is not None:
            self.status = status
        super().__init__(self.message)


class NotFound(DomainError):
    status = 404


class PermissionDeniedError(DomainError):
    """The user lacks a capability. The handler writes a 'denied' audit record after rollback."""

    status = 403

    def __init__(self, code, message="", *, capability: str = "", obj=None, actor=None):
        super().__init__(code, message)
        self.capability = capability
        self.obj = obj
        self.actor = actor


class ConflictError(DomainError):
    status = 409
