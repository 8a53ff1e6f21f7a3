from enum import StrEnum


class InspectionErrorCode(StrEnum):
    TEMPLATE_NOT_ACTIVE = "template_not_active"
    TEMPLATE_IN_USE = "template_in_use"
    ANSWER_MISSING = "answer_missing"
    ANSWER_INVALID = "answer_invalid"
    TARGET_NOT_FOUND = "target_not_found"
    NOT_YOUR_PLAN = "not_your_plan"
    ALREADY_DONE = "already_done"
    PLAN_INVALID = "plan_invalid"
