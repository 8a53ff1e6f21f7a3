"""Redaction of ID and mobile numbers in application logs."""

import logging
import re

from .masking import mask_id_number, mask_phone

_ID = re.compile(r"(?<!\d)(\d{17}[\dXx])(?!\d)")
# The first-generation ID card (15 digits: area, YYMMDD, sequence); a birth date in it, so not any 15 digits.
_ID15 = re.compile(r"(?<!\d)(\d{8}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})(?!\d)")
# Mobiles as people write them: +86 / 0086 / 86 before, spaces or dashes between the 3-4-4 groups.
_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
# Fixed lines with their area code (010, 021, 0571 …) and a dash or space: 021-65551234.
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[ -](\d{7,8})(?!\d)")


def redact(text: str) -> str:
    text = _ID.sub(lambda m: mask_id_number(m.group(1)), text)
    text = _ID15.sub(lambda m: mask_id_number(m.group(1)), text)
    text = _MOBILE.sub(lambda m: mask_phone("".join(m.groups())), text)
    return _LANDLINE.sub(lambda m: f"{m.group(1)}-{'*' * (len(m.group(2)) - 4)}{m.group(2)[-4:]}", text)


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
