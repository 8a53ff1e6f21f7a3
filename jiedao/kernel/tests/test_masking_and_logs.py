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


def test_redaction_filter_rewrites_the_record(caplog):
    logger = logging.getLogger("jiedao.test.redaction")
    logger.addFilter(RedactPIIFilter())
    with caplog.at_level(logging.INFO, logger="jiedao.test.redaction"):
        logger.info("calling %s about %s", "13812345678", "11010519491231002X")
    assert "13812345678" not in caplog.text
    assert "138****5678" in caplog.text and "110***********002X" in caplog.text
