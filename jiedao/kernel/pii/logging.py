"""Redaction of ID and mobile numbers in application logs."""

import logging
import re

from .masking import mask_id_number, mask_phone

_ID = re.compile(r"(?<!\d)(\d{17}[\dXx])(?!\d)")
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")


def redact(text: str) -> str:
    text = _ID.sub(lambda m: mask_id_number(m.group(1)), text)
    return _MOBILE.sub(lambda m: mask_phone(m.group(1)), text)


class RedactPIIFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not ours
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
