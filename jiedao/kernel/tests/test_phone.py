import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jiedao.kernel.pii import phone

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$|^\d{8}$")


def _reference(value):
    """phone.parse before its fast path: normalise, then the two regexes."""
    v = phone.normalise(value)
    return v if (_MOBILE.match(v) or _LANDLINE.match(v)) else None


def _outcome(value):
    try:
        return phone.parse(value)
    except phone.InvalidPhone:
        return None


@pytest.mark.parametrize("value, expected", [
    ("13812345678", "13812345678"),
    ("+86 138-1234-5678", "13812345678"),
    ("021-65551234", "02165551234"),
    ("12812345678", None),
    ("1381234567８", "1381234567８"),  # \d takes full-width digits: accepted, as before
    ("1381234567", None),
    ("138123456789", None),
])
def test_mobile_landline_and_near_misses(value, expected):
    assert _outcome(value) == expected


@given(st.text(alphabet="0123456789" * 3 + "+-() ８٣\n", min_size=8, max_size=15))
def test_fast_parse_gives_the_reference_outcome(text):
    assert _outcome(text) == _reference(text)
