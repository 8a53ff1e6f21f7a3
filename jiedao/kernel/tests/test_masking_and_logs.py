import logging

from jiedao.kernel.pii.logging import RedactPIIFilter, redact
from jiedao.kernel.pii.masking import mask_address, mask_id_number, mask_phone


def test_masks_follow_the_house_format():
    assert mask_id_number("310110198001011234") == "310***********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_address("殷行路100弄3号502室") == "殷行路****"
    assert mask_id_number("") == ""


def test_log_lines_are_redacted():
    assert redact("person 310110198001011234 phone 13812345678") == "person 310***********1234 phone 138****5678"



def test_phone_and_id_numbers_are_redacted_as_people_write_them():
    """Formats a comment or an SMS body carries (found in review, 2026-11-27): prefixes, separators, fixed lines,
    the 15-digit ID card. Case numbers, times and amounts are left alone."""
    for written in ("+8613912345678", "+86 139 1234 5678", "008613912345678", "86-139-1234-5678", "139-1234-5678",
                    "139 1234 5678", "139.1234.5678"):
        out = redact(f"请联系 {written} 核实")
        assert "139****5678" in out and "1234" not in out.replace("****5678", ""), out
    assert redact("座机 021-65551234 或 0571 8765432") == "座机 021-****1234 或 0571-****5432"
    for fixed in ("(021)65551234", "021 6555 1234", "02165551234", "021－65551234"):
        out = redact(f"电话{fixed}。")  # without separators the area code's length is a guess: masked either way
        assert out.startswith("电话021") and out.endswith("-****1234。") and "6555" not in out, fixed
    assert redact("电话 +86-21-65551234") == "电话 +86-21-****1234"
    assert redact("老身份证 310110800101001") == "老身份证 310********1001"
    assert redact("证件号码：310110800101001") == "证件号码：310********1001"
    for kept in ("案件 20261127007739 已结案", "与案件 202611271012345 重复", "2026-11-27 09:30:15", "金额 1234567.50 元",
                 "订单 13912345678901", "坐标 31.13912345678, 121.505123", "2026-02-28", "第0571号"):
        assert redact(kept) == kept, kept


def test_redaction_filter_rewrites_the_record(caplog):
    logger = logging.getLogger("jiedao.test.redaction")
    logger.addFilter(RedactPIIFilter())
    with caplog.at_level(logging.INFO, logger="jiedao.test.redaction"):
        logger.info("calling %s about %s", "13812345678", "11010519491231002X")
    assert "13812345678" not in caplog.text
    assert "138****5678" in caplog.text and "110***********002X" in caplog.text
