"""12345 hotline work orders (GOV-1): a batch as JSON or .xlsx; a re-sent order number makes no second case.

Fields follow the common 12345 work-order export (docs/cases.md):
order_no 工单编号 · received_at 受理时间 · caller_name 来电人 · caller_phone 来电号码 · content 诉求内容 ·
address 事发地址 · category_code 问题分类编码 (2026 or legacy code) · category_name 问题分类 ·
deadline 办结时限 · lat/lng (optional, WGS-84 or with coord_system) · urgency 紧急程度.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.permissions import require_capability

from ..categories import category_for_code
from ..choices import CaseSource, Urgency
from ..error_codes import CaseErrorCode
from ..models import Case, CaseCategory
from .intake import Intake, case_report

XLSX_COLUMNS = {"工单编号": "order_no", "受理时间": "received_at", "来电人": "caller_name", "来电号码": "caller_phone",
                "诉求内容": "content", "事发地址": "address", "问题分类编码": "category_code",
                "问题分类": "category_name", "办结时限": "deadline", "紧急程度": "urgency"}


@dataclass
class HotlineResult:
    created: list[str] = field(default_factory=list)  # case numbers (empty when nothing was committed)
    duplicates: list[str] = field(default_factory=list)  # order numbers already received
    errors: list[dict] = field(default_factory=list)  # {"index", "row" (.xlsx), "order_no", "message"}
    committed: bool = True
    valid: int = 0  # orders that would make a case (as many as ``created`` when committed)


def _parse_time(value) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = str(value).strip().replace("/", "-")
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(_("时间格式不正确：%s") % text) from exc
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class _Rollback(Exception):
    pass


def hotline_import(*, actor, subdistrict, orders: list[dict], commit_valid_rows: bool = False) -> HotlineResult:
    """Import a batch of work orders: every order is checked and the answer says, per order, what is wrong.
    With an error the batch commits nothing (DESIGN §4.8), unless ``commit_valid_rows``: then the good orders
    are kept. A re-sent order number is not an error: it is listed under ``duplicates`` and makes no case."""
    require_capability(actor, "cases.import")
    result = HotlineResult()
    try:
        with transaction.atomic():
            for index, order in enumerate(orders):
                _import_one(subdistrict, index, order, result)
            if result.errors and not commit_valid_rows:
                raise _Rollback
    except _Rollback:
        result.committed = False
        result.created = []
    return result


def _import_one(subdistrict, index: int, order: dict, result: HotlineResult) -> None:
    order_no = str(order.get("order_no") or "").strip()
    try:
        if not order_no:
            raise ValueError(_("缺少工单编号。"))
        if Case.objects.filter(subdistrict=subdistrict, source=CaseSource.HOTLINE, external_id=order_no).exists():
            result.duplicates.append(order_no)  # also one repeated within the batch
            return
        content = str(order.get("content") or "").strip()
        if not content:
            raise ValueError(_("缺少诉求内容。"))
        category = category_for_code(subdistrict_id=subdistrict.pk, code=str(order.get("category_code") or ""),
                                     name=str(order.get("category_name") or ""))
        if category is None and order.get("category_name"):
            category = CaseCategory.objects.filter(subdistrict=subdistrict, is_leaf=True,
                                                   name=str(order["category_name"]).strip()).first()
        urgency = Urgency.URGENT if str(order.get("urgency") or "") in {"urgent", "紧急", "1"} else Urgency.NORMAL
        intake = Intake(
            source=CaseSource.HOTLINE, description=content, category=category, address=str(order.get("address") or ""),
            lat=order.get("lat"), lng=order.get("lng"), coord_system=order.get("coord_system") or "wgs84",
            external_id=order_no, urgency=urgency, reporter_name=str(order.get("caller_name") or "")[:64],
            reporter_phone=str(order.get("caller_phone") or ""), reported_at=_parse_time(order.get("received_at")),
            deadline_at=_parse_time(order.get("deadline")),  # the city platform's deadline binds the sub-district
            title=content[:40],
        )
        with transaction.atomic():  # a savepoint: a failed order leaves nothing behind
            case = case_report(actor=None, subdistrict_id=subdistrict.pk, intake=intake)
        result.created.append(case.number)
        result.valid += 1
    except (ValueError, DomainError) as exc:
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        error = {"index": index, "order_no": order_no, "message": message}
        if "_row" in order:
            error["row"] = order["_row"]
        result.errors.append(error)


MAX_XLSX_BYTES = 10 * 1024 * 1024
MAX_ORDERS = 2000  # as the JSON batch


def hotline_orders_from_upload(upload) -> list[dict]:
    """The orders of an uploaded .xlsx, refused before reading when it is larger than any day's export."""
    if upload.size > MAX_XLSX_BYTES:
        raise DomainError(CaseErrorCode.HOTLINE_INVALID, _("文件过大（上限 10 MB）。"))
    return hotline_orders_from_xlsx(upload.read())


def hotline_orders_from_xlsx(data: bytes) -> list[dict]:
    from python_calamine import CalamineWorkbook

    try:
        rows = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    except Exception as exc:  # calamine's own error types for broken files
        raise DomainError(CaseErrorCode.HOTLINE_INVALID, _("无法读取该文件，请上传 12345 工单导出的 .xlsx。")) from exc
    if not rows:
        raise DomainError(CaseErrorCode.HOTLINE_INVALID, _("文件是空的。"))
    header = [XLSX_COLUMNS.get(str(h).strip(), str(h).strip()) for h in rows[0]]
    if "order_no" not in header or "content" not in header:
        raise DomainError(CaseErrorCode.HOTLINE_INVALID, _("缺少必需的列：工单编号、诉求内容。"))
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(str(v).strip() for v in row):
            continue
        item = {"_row": number}  # the spreadsheet's row number, for the error report
        for key, value in zip(header, row):
            if isinstance(value, float) and value.is_integer() and key in {"order_no", "caller_phone", "category_code"}:
                value = str(int(value))
            item[key] = value
        out.append(item)
        if len(out) > MAX_ORDERS:
            raise DomainError(CaseErrorCode.HOTLINE_INVALID, _("一次最多导入 %d 条工单，请分批上传。") % MAX_ORDERS)
    return out
