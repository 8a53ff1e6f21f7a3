"""Masking helpers used by templates, API schemas and exports alike."""

import re


def mask_id_number(value: str | None) -> str:
    if not value:
        return ""
    v = str(value)
    if len(v) < 8:
        return "*" * len(v)
    return v[:3] + "*" * (len(v) - 7) + v[-4:]


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    v = str(value)
    if len(v) == 11:
        return v[:3] + "****" + v[-4:]
    if len(v) <= 4:
        return "*" * len(v)
    return v[:2] + "*" * (len(v) - 4) + v[-2:]


_DIGITS = re.compile(r"\d")


def mask_address(value: str | None) -> str:
    """Keep the road or compound, hide building, unit and room numbers."""
    if not value:
        return ""
    v = str(value)
    cut = re.search(r"\d", v)
    head = v[: cut.start()] if cut else v[: max(2, len(v) // 2)]
    return head + "****"


def mask_name(value: str | None) -> str:
    if not value:
        return ""
    v = str(value)
    if len(v) == 1:
        return v
    if len(v) == 2:
        return v[0] + "*"
    return v[0] + "*" * (len(v) - 2) + v[-1]
