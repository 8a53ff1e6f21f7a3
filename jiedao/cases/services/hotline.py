"""12345 hotline work orders (GOV-1): a batch as JSON or .xlsx; a re-sent order number makes no second case.

Fields follow the common 12345 work-order export (docs/cases.md):
order_no 工单编号 · received_at 受理时间 · caller_name 来电人 · caller_phone 来电号码 · content 诉求内容 ·
address 事发地址 · category_code 问题分类编码 (2026 or legacy code) · category_name 问题分类 ·
deadline 办结时限 · lat/lng (optional, WGS-84 or with coord_system) · urgency 紧急程度.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.kernel.audit import audit_record
from jiedao.kernel.calendar import office_hours
from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.permissions import require_capability

from ..categories import category_for_code
from ..choices import CaseSource, Urgency
from ..error_codes import CaseErrorCode
from ..models import Case, CaseCategory
from .intake import Intake, case_report, intake_point

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


def _parse_time(value, *, end_of_day: bool = False) -> dt.datetime | None:
    """A time of the work order; a date alone is the start of that day, or for a deadline (``end_of_day``) the
    end of its office hours — 办结时限 2026-12-02 is due that afternoon, not the midnight before."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
        date_only = True
    else:
        text = str(value).strip().replace("/", "-")
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(_("时间格式不正确：%s") % text) from exc
        date_only = len(text) <= 10
    if end_of_day and not isinstance(value, dt.datetime) and date_only:
        moment = dt.datetime.combine(moment.date(), office_hours()[-1][1])
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def hotline_import(*, actor, subdistrict, orders: list[dict], commit_valid_rows: bool = False,
                   source: str = "json") -> HotlineResult:
    """Import a batch of work orders: every order is checked first and the answer says, per order, what is wrong.
    With an error nothing is imported (DESIGN §4.8), unless ``commit_valid_rows``: then the good orders are. A
    re-sent order number is not an error: it is listed under ``duplicates`` and makes no case.

    The checks only read; then each good order becomes a case in its own short transaction, as any report does.
    (One transaction for the batch would hold an audit lane and every case row it wrote for the whole import.) One audit record for the import says what came of it."""
    require_capability(actor, "cases.import")
    result = HotlineResult()
    seen: set[str] = set()
    ready: list[tuple[int, dict, Intake]] = []
    for index, order in enumerate(orders):
        intake = _checked(subdistrict, index, order, result, seen)
        if intake is not None:
            ready.append((index, order, intake))
    result.valid = len(ready)
    if result.errors and not commit_valid_rows:
        result.committed = False
    else:
        for index, order, intake in ready:
            try:
                case = case_report(actor=None, subdistrict_id=subdistrict.pk, intake=intake)
            except DomainError as exc:
                if exc.code == "duplicate_external_id":  # sent meanwhile by another import (a client's retry)
                    result.duplicates.append(intake.external_id)
                else:
                    result.errors.append(_error(index, order, exc.message))
                continue
            result.created.append(case.number)
    audit_record(actor=actor, action="cases.hotline_import", subdistrict_id=subdistrict.pk,
                 outcome="success" if result.committed else "failure", object_type="cases.hotline_import",
                 changes={"source": [None, source], "orders": [None, len(orders)],
                          "created": [None, len(result.created)], "duplicates": [None, len(result.duplicates)],
                          "errors": [None, len(result.errors)], "committed": [None, result.committed]})
    return result


def _error(index: int, order: dict, message: str) -> dict:
    error = {"index": index, "order_no": str(order.get("order_no") or "").strip(), "message": message}
    if "_row" in order:
        error["row"] = order["_row"]
    return error


def _checked(subdistrict, index: int, order: dict, result: HotlineResult, seen: set[str]) -> Intake | None:
    """The order as an intake if it is good and new; else it is listed as a duplicate or an error."""
    order_no = str(order.get("order_no") or "").strip()
    try:
        if not order_no:
            raise ValueError(_("缺少工单编号。"))
        if order_no in seen or Case.objects.filter(subdistrict=subdistrict, source=CaseSource.HOTLINE,
                                                   external_id=order_no[:64]).exists():
            result.duplicates.append(order_no)  # also one repeated within the batch
            return None
        seen.add(order_no)
        content = str(order.get("content") or "").strip()
        if not content:
            raise ValueError(_("缺少诉求内容。"))
        category = category_for_code(subdistrict_id=subdistrict.pk, code=str(order.get("category_code") or ""),
                                     name=str(order.get("category_name") or ""))
        if category is None and order.get("category_name"):
            category = CaseCategory.objects.filter(subdistrict=subdistrict, is_leaf=True,
                                                   name=str(order["category_name"]).strip()).first()
        urgency = Urgency.URGENT if str(order.get("urgency") or "") in {"urgent", "紧急", "1"} else Urgency.NORMAL
        coord_system = order.get("coord_system") or "wgs84"
        intake_point(order.get("lat"), order.get("lng"), coord_system)  # refused here, not half-way through
        return Intake(
            source=CaseSource.HOTLINE, description=content, category=category, address=str(order.get("address") or ""),
            lat=order.get("lat"), lng=order.get("lng"), coord_system=coord_system,
            external_id=order_no, urgency=urgency, reporter_name=str(order.get("caller_name") or "")[:64],
            reporter_phone=str(order.get("caller_phone") or ""), reported_at=_parse_time(order.get("received_at")),
            deadline_at=_parse_time(order.get("deadline"), end_of_day=True),  # the platform's deadline binds
            title=content[:40],
        )
    except (ValueError, DomainError) as exc:
        result.errors.append(_error(index, order, exc.message if isinstance(exc, DomainError) else str(exc)))
        return None


MAX_XLSX_BYTES = 10 * 1024 * 1024
MAX_ORDERS = 2000  # as the JSON batch


MAX_XLSX_UNPACKED = 64 * 1024 * 1024


def hotline_orders_from_upload(upload) -> list[dict]:
    """The orders of an uploaded .xlsx, refused before reading when it is larger than any day's export."""
    if upload.size > MAX_XLSX_BYTES:
        raise DomainError(CaseErrorCode.HOTLINE_INVALID, _("文件过大（上限 10 MB）。"))
    return hotline_orders_from_xlsx(upload.read())


def _unpacked_size(data: bytes) -> int:
    """What the .xlsx (a zip) says it unpacks to, or 0 when it is no zip (the reader then refuses it)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        return 0


def hotline_orders_from_xlsx(data: bytes) -> list[dict]:
    from python_calamine import CalamineWorkbook

    # A zip bomb (a few MB that unpack to gigabytes of cells) is refused before the reader unpacks it.
    if _unpacked_size(data) > MAX_XLSX_UNPACKED:
        raise DomainError(CaseErrorCode.HOTLINE_INVALID, _("文件解压后过大，请分批导出。"))
    try:
        sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
        rows = sheet.iter_rows()
        first = next(rows, None)
    except Exception as exc:  # calamine's own error types for broken files
        raise DomainError(CaseErrorCode.HOTLINE_INVALID, _("无法读取该文件，请上传 12345 工单导出的 .xlsx。")) from exc
    if not first:
        raise DomainError(CaseErrorCode.HOTLINE_INVALID, _("文件是空的。"))
    header = [XLSX_COLUMNS.get(str(h).strip(), str(h).strip()) for h in first]
    if "order_no" not in header or "content" not in header:
        raise DomainError(CaseErrorCode.HOTLINE_INVALID, _("缺少必需的列：工单编号、诉求内容。"))
    out = []
    for number, row in enumerate(rows, start=2):
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
