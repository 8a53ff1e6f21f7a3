from enum import StrEnum


class PeopleErrorCode(StrEnum):
    NAME_REQUIRED = "name_required"
    INVALID_ID_NUMBER = "invalid_id_number"
    INVALID_PHONE = "invalid_phone"
    DUPLICATE_ID_NUMBER = "duplicate_id_number"
    COMPOUND_NOT_FOUND = "compound_not_found"
    STALE_VERSION = "stale_version"
    REASON_REQUIRED = "reason_required"
    UNKNOWN_FIELD = "unknown_field"
