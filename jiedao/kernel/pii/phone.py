import re

from django.utils.translation import gettext as _

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$|^\d{8}$")


class InvalidPhone(ValueError):
    pass


_SEPARATORS = re.compile(r"[\s\-()（）]")


def normalise(value: str) -> str:
    v = str(value or "")
    if not v.isdigit():  # the common case (a bare number) skips the regex
        v = _SEPARATORS.sub("", v)
    if v.startswith("+86"):
        v = v[3:]
    elif v.startswith("0086"):
        v = v[4:]
    return v


_MOBILE_SECOND = frozenset("3456789")


def parse(value: str) -> str:
    v = normalise(value)
    # A plain mobile number (most of an import) is checked without the regexes; for ASCII
    # text isdigit() is [0-9], exactly what \d matches there. Anything else takes the regexes.
    if len(v) == 11 and v[0] == "1" and v[1] in _MOBILE_SECOND and v.isascii() and v.isdigit():
        return v
    if not (_MOBILE.match(v) or _LANDLINE.match(v)):
        raise InvalidPhone(_("电话号码格式不正确：手机号应为11位，固话如 021-65551234。"))
    return v
