import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jiedao.kernel.pii import idnumber


def test_valid_number_gives_birth_date_and_sex():
    # The well-known GB 11643 example number.
    info = idnumber.parse("11010519491231002X")
    assert info.birth_date == dt.date(1949, 12, 31)
    assert info.sex == "F"
    assert info.region == "110105"


@pytest.mark.parametrize("bad, fragment", [
    ("11010519491231002", "18位"),
    ("1101051949123100XX", "格式"),
    ("110105194912310021", "校验位"),
    ("990105194912310025", "地区码"),
    ("110105194902300020", "出生日期不存在"),
    ("110105209901010027", "不合理"),
    ("", "18位"),
    ("１１０１０５１９４９１２３１００２Ｘ", "格式"),
])
def test_malformed_numbers_are_refused_with_a_clear_message(bad, fragment):
    with pytest.raises(idnumber.InvalidIdNumber) as exc:
        idnumber.parse(bad, today=dt.date(2026, 1, 1))
    assert fragment in str(exc.value)


def test_lower_case_x_and_spaces_are_normalised():
    assert idnumber.parse(" 11010519491231002x ").normalised == "11010519491231002X"


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)), st.integers(0, 499),
       st.sampled_from("MF"))
def test_made_numbers_always_validate(birth, seq, sex):
    number = idnumber.make("310110", birth, seq, sex)
    info = idnumber.parse(number, today=dt.date(2026, 1, 1))
    assert info.birth_date == birth and info.sex == sex


@given(st.text(max_size=30))
def test_parse_never_crashes_on_arbitrary_text(text):
    try:
        idnumber.parse(text)
    except idnumber.InvalidIdNumber:
        pass


# The parser before its fast path (regex shape, weighted sum), kept as the reference.
_REF_SHAPE = re.compile(r"^\d{17}[\dX]$")


def _reference_parse(value, today):
    v = "".join(str(value or "").split()).upper()
    if len(v) != 18:
        return "身份证号应为18位。"
    if not _REF_SHAPE.match(v):
        return "身份证号格式不正确：前17位应为数字，末位为数字或X。"
    if int(v[:2]) not in idnumber.PROVINCES or v[2:6] == "0000":
        return "身份证号的地区码不正确。"
    try:
        birth = dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return "身份证号中的出生日期不存在。"
    if birth > today or birth.year < 1890:
        return "身份证号中的出生日期不合理。"
    if "10X98765432"[sum(int(c) * w for c, w in zip(v[:17], idnumber.WEIGHTS, strict=True)) % 11] != v[17]:
        return "身份证号校验位错误。"
    return (v, v[:6], birth, "M" if int(v[16]) % 2 else "F")


def _parse_outcome(value, today):
    try:
        info = idnumber.parse(value, today=today)
    except idnumber.InvalidIdNumber as exc:
        return str(exc)
    return (info.normalised, info.region, info.birth_date, info.sex)


# Digits that \d accepts besides 0-9 (full-width, Arabic-Indic), X and x, separators, letters.
_ID_ALPHABET = "0123456789" * 4 + "Xx ０１２３٣٤\t-a"


@settings(max_examples=500)
@given(st.text(alphabet=_ID_ALPHABET, min_size=16, max_size=20), st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1)))
def test_fast_parse_gives_the_reference_outcome_on_near_misses(text, today):
    assert _parse_outcome(text, today) == _reference_parse(text, today)


@settings(max_examples=300)
@given(st.dates(min_value=dt.date(1880, 1, 1), max_value=dt.date(2030, 12, 31)), st.integers(0, 999),
       st.sampled_from(["110105", "310110", "990101", "310000", "820000"]), st.integers(0, 17), st.integers(0, 9))
def test_fast_parse_gives_the_reference_outcome_on_one_changed_digit(birth, seq, region, pos, digit):
    number = f"{region}{birth:%Y%m%d}{seq:03d}"
    number += "10X98765432"[sum(int(c) * w for c, w in zip(number, idnumber.WEIGHTS, strict=True)) % 11]
    changed = number[:pos] + str(digit) + number[pos + 1:]
    for value in (number, changed):
        assert _parse_outcome(value, dt.date(2026, 1, 1)) == _reference_parse(value, dt.date(2026, 1, 1))


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_char_is_the_weighted_sum(first17):
    total = sum(int(c) * w for c, w in zip(first17, idnumber.WEIGHTS, strict=True))
    assert idnumber.check_char(first17) == idnumber.CHECK_CHARS[total % 11]


def test_full_width_digits_are_judged_as_before():
    number = idnumber.make("310110", dt.date(1980, 1, 1), 7, "M")
    wide = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert _parse_outcome(wide, dt.date(2026, 1, 1)) == _reference_parse(wide, dt.date(2026, 1, 1))
