from enum import StrEnum


class CaseErrorCode(StrEnum):
    TRANSITION_NOT_ALLOWED = "transition_not_allowed"
    STALE_VERSION = "stale_version"
    NOT_ASSIGNED = "not_assigned"
    DEPARTMENT_REQUIRED = "department_required"
    CATEGORY_REQUIRED = "category_required"
    CATEGORY_NOT_FOUND = "category_not_found"
    LOCATION_REQUIRED = "location_required"
    OUTSIDE_AREA = "outside_area"
    DESCRIPTION_REQUIRED = "description_required"
    TOO_MANY_PHOTOS = "too_many_photos"
    PHOTO_TOO_LARGE = "photo_too_large"
    PHOTO_INVALID = "photo_invalid"
    POSTPONE_NOT_REQUESTED = "postpone_not_requested"
    POSTPONE_DATE_INVALID = "postpone_date_invalid"
    DUPLICATE_TARGET_INVALID = "duplicate_target_invalid"
    SATISFACTION_INVALID = "satisfaction_invalid"
    REASON_REQUIRED = "reason_required"
    SIGNATURE_INVALID = "signature_invalid"
    SOURCE_UNKNOWN = "source_unknown"
    HOTLINE_INVALID = "hotline_invalid"
