"""Redaction of ID and mobile numbers in application logs."""

import logging
import re

from .masking import mask_id_number, mask_phone

# Not inside a longer number, nor after a decimal point (31.13912345678 is a coordinate, not a phone).
_ID = re.compile(r"(?<![\d.])(\d{17}[\dXx])(?!\d)")
# The first-generation ID card has 15 digits, as has a case number from id 1,000,000 on: masked only where the
# text says it is an ID.
_ID15 = re.compile(r"((?:身份证|证件)[号码]*[:：\s]*)(\d{15})(?!\d)")
_SEP = r"[ \-－.]?"
# Mobiles as people write them: +86 / 0086 / 86 before, spaces, dashes or dots between the 3-4-4 groups.
_MOBILE = re.compile(rf"(?<![\d.+])(?:(?:\+|00)?86{_SEP})?(1[3-9]\d){_SEP}(\d{{4}}){_SEP}(\d{{4}})(?!\d)")
# Fixed lines: 021-65551234, (021)65551234, 021 6555 1234, 02165551234, +86-21-65551234, 0571 8765432.
_LANDLINE = re.compile(r"(?<![\d.+])(?:((?:\+|00)86)[ \-－]?(\d{2,3})|\(?(0\d{2,3})\)?)[ \-－]?(\d{3,4})[ \-－]?(\d{4})(?!\d)")


def _landline(m) -> str:
    country, area_after_country, area, _middle, last = m.groups()
    return f"+86-{area_after_country}-****{last}" if country else f"{area}-****{last}"


def redact(text: str) -> str:
    text = _ID.sub(lambda m: mask_id_number(m.group(1)), text)
    text = _ID15.sub(lambda m: m.group(1) + mask_id_number(m.group(2)), text)
    text = _MOBILE.sub(lambda m: mask_phone("".join(m.groups())), text)
    return _LANDLINE.sub(_landline, text)


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
