from enum import StrEnum


class KernelErrorCode(StrEnum):
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    NOT_AUTHENTICATED = "not_authenticated"
    LOCKED_OUT = "locked_out"
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_INPUT = "invalid_input"
    STALE_VERSION = "stale_version"
    REASON_REQUIRED = "reason_required"
    ADMIN_ROLES_EXCLUSIVE = "admin_roles_exclusive"
    INVALID_ID_NUMBER = "invalid_id_number"
    INVALID_PHONE = "invalid_phone"
    IMPORT_INVALID_FILE = "import_invalid_file"
    IMPORT_HAS_ERRORS = "import_has_errors"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"
