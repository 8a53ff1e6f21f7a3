from datetime import datetime

from ninja import Schema
from pydantic import Field


class ErrorOut(Schema):
    code: str
    message: str
    fields: dict = {}


class TokenIn(Schema):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(Schema):
    token: str


class OrgUnitOut(Schema):
    id: int
    kind: str
    code: str
    name: str
    parent_id: int | None
    preparatory: bool


class AlertOut(Schema):
    id: int
    rule: str
    subject_type: str
    subject_id: str
    subject_repr: str
    severity: str
    state: str
    message: str
    raised_at: datetime


class AuditOut(Schema):
    id: int
    lane: int
    seq: int
    created_at: datetime
    actor_username: str
    actor_role: str
    action: str
    object_type: str
    object_id: str
    object_repr: str
    outcome: str
    reason: str
    changes: dict
    request_id: str
    ip: str


class MeOut(Schema):
    id: int
    username: str
    display_name: str
    roles: list[str]
    capabilities: list[str]
