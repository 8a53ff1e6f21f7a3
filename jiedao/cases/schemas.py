"""API shapes of cases. The reporter's phone leaves masked; public shapes carry no reporter at all."""

import datetime as dt

from ninja import Schema
from pydantic import Field

from jiedao.kernel.pii.masking import mask_name, mask_phone


class CategoryOut(Schema):
    id: int
    kind: str
    code: str
    legacy_code: str
    name: str
    parent_id: int | None
    default_department_id: int | None
    urgent_hours: float | None
    normal_days: int | None


class CaseOut(Schema):
    id: int
    number: str
    source: str
    external_id: str
    state: str
    version: int
    category_id: int | None
    category_name: str
    title: str
    description: str
    address: str
    lat: float | None
    lng: float | None
    grid_id: int | None
    urgency: str
    lead_department_id: int | None
    deadline_at: dt.datetime | None
    reported_at: dt.datetime
    closed_at: dt.datetime | None
    supervision_level: int
    overdue: bool
    duplicate_candidates: list[int]
    reporter_name_masked: str
    reporter_phone_masked: str
    satisfaction: int | None

    @staticmethod
    def resolve_category_name(obj):
        return obj.category.name if obj.category_id else ""

    @staticmethod
    def resolve_overdue(obj):
        from django.utils import timezone

        from .choices import OPEN_STATES

        return bool(obj.deadline_at and obj.state in OPEN_STATES and obj.deadline_at < timezone.now())

    @staticmethod
    def resolve_reporter_name_masked(obj):
        return mask_name(obj.reporter_name)

    @staticmethod
    def resolve_reporter_phone_masked(obj):
        return mask_phone(obj.reporter_phone)


class EventOut(Schema):
    id: int
    action: str
    from_state: str
    to_state: str
    actor_name: str
    department_id: int | None
    comment: str
    data: dict
    created_at: dt.datetime


class AssignmentOut(Schema):
    id: int
    department_id: int
    role: str
    state: str
    feedback: str


class PhotoOut(Schema):
    id: int
    stage: str
    url: str
    thumbnail_url: str

    @staticmethod
    def resolve_url(obj):
        return f"/cases/photos/{obj.pk}/full"

    @staticmethod
    def resolve_thumbnail_url(obj):
        return f"/cases/photos/{obj.pk}/thumb"


class CaseDetailOut(CaseOut):
    events: list[EventOut]
    assignments: list[AssignmentOut]
    photos: list[PhotoOut]
    allowed_actions: list[str]

    @staticmethod
    def resolve_events(obj):
        return list(obj.events.all())

    @staticmethod
    def resolve_assignments(obj):
        return list(obj.assignments.all())

    @staticmethod
    def resolve_photos(obj):
        return list(obj.photos.all())

    @staticmethod
    def resolve_allowed_actions(obj, context):
        from .views_support import allowed_actions

        return allowed_actions(context["request"].user, obj)


class TransitionIn(Schema):
    version: int
    comment: str = Field("", max_length=2000)
    category_id: int | None = None
    urgency: str | None = None
    lead_department_id: int | None = None
    co_department_ids: list[int] = []
    until: dt.datetime | None = None
    level: int | None = None
    satisfaction: int | None = None
    duplicate_of_id: int | None = None


class HotlineOrderIn(Schema):
    order_no: str = Field(min_length=1, max_length=64)
    received_at: dt.datetime | None = None
    caller_name: str = Field("", max_length=64)
    caller_phone: str = Field("", max_length=32)
    content: str = Field("", max_length=4000)  # an empty one is reported per order, not as a 400 for the batch
    address: str = Field("", max_length=200)
    category_code: str = Field("", max_length=16)
    category_name: str = Field("", max_length=64)
    deadline: dt.date | dt.datetime | None = None  # a date alone: due at the end of that day's office hours
    urgency: str = ""
    lat: float | None = None
    lng: float | None = None
    coord_system: str = "wgs84"


class HotlineBatchIn(Schema):
    orders: list[HotlineOrderIn] = Field(max_length=2000)


class HotlineResultOut(Schema):
    created: list[str]
    duplicates: list[str]
    errors: list[dict]
    committed: bool
    valid: int


class AlarmOut(Schema):
    case_id: int
    number: str
    created: bool
