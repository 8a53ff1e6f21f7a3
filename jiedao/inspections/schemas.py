import datetime as dt

from ninja import Schema
from pydantic import Field


class ItemOut(Schema):
    id: int
    code: str
    text: str
    kind: str
    required: bool
    unit: str
    min_value: float | None
    max_value: float | None
    choices: list
    max_score: float | None
    fail_below: float | None
    case_category_id: int | None


class TemplateOut(Schema):
    id: int
    code: str
    version: int
    name: str
    kind: str
    target_type: str
    status: str
    pass_score: float | None
    items: list[ItemOut]

    @staticmethod
    def resolve_items(obj):
        return list(obj.items.all())


class PlanOut(Schema):
    id: int
    name: str
    template_code: str
    inspector_id: int
    frequency: str
    dates: list
    workdays_only: bool
    start_date: dt.date
    end_date: dt.date | None
    active: bool


class PlanIn(Schema):
    name: str = Field(min_length=1, max_length=128)
    template_code: str
    inspector_id: int
    frequency: str
    start_date: dt.date
    end_date: dt.date | None = None
    workdays_only: bool = False
    dates: list[str] = []
    targets: list[tuple[str, int]] = Field(min_length=1, max_length=2000)


class DueOut(Schema):
    plan_id: int
    plan_name: str
    template_code: str
    target_type: str
    target_id: int
    target_name: str
    period_key: str
    due_by: dt.date
    done: bool
    lat: float | None
    lng: float | None


class AnswerOut(Schema):
    item_id: int
    passed: bool | None
    score: float | None
    number: float | None
    choice: str
    text: str
    failed: bool
    case_id: int | None


class InspectionOut(Schema):
    id: int
    template_id: int
    template_version: int
    plan_id: int | None
    period_key: str
    inspector_id: int
    target_type: str
    target_id: int
    target_name: str
    lat: float | None
    lng: float | None
    started_at: dt.datetime
    finished_at: dt.datetime
    score: float | None
    passed: bool
    failed_items: int
    notes: str
    answers: list[AnswerOut]

    @staticmethod
    def resolve_template_version(obj):
        return obj.template.version

    @staticmethod
    def resolve_answers(obj):
        return list(obj.answers.all())


class InspectionIn(Schema):
    template_id: int
    target_type: str
    target_id: int
    plan_id: int | None = None
    answers: dict = {}
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    track: list = Field([], max_length=5000)
    notes: str = Field("", max_length=4000)


class ScoreOut(Schema):
    label: str
    avg_score: float | None
    checks: int
    passed: int
    pass_rate: float | None
    rank: int
