import datetime as dt

import pytest
from hypothesis import given
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
