"""Export of the audit log (audit administrator only), itself audited."""

from __future__ import annotations

import io

import xlsxwriter
from django.db import transaction
from django.utils import timezone

from .audit import audit_record
from .permissions import require_capability
from .roles import Cap

HEADER = ("链", "序号", "时间（北京时间）", "操作人", "角色", "部门", "操作", "对象类型", "对象编号", "对象", "结果", "事由",
          "变更", "请求编号", "IP", "MAC")


@transaction.atomic
def audit_export(*, actor, queryset, filters: dict) -> bytes:
    """``queryset`` comes from kernel.selectors.audit_list (already scoped). Changes are already masked."""
    require_capability(actor, Cap.AUDIT_EXPORT)
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "constant_memory": True})
    ws = wb.add_worksheet("审计日志")
    ws.write_row(0, 0, HEADER)
    tz = timezone.get_default_timezone()
    n = 0
    for n, r in enumerate(queryset.iterator(chunk_size=2000), start=1):
        ws.write_row(n, 0, [r.lane, r.seq, r.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), r.actor_username,
                            r.actor_role, r.actor_org_unit, r.action, r.object_type, r.object_id, r.object_repr,
                            r.outcome, r.reason, str(r.changes), r.request_id, r.ip, r.mac])
    wb.close()
    audit_record(actor=actor, action="audit.export", changes={"rows": [None, n], "filters": [None, str(filters)[:200]]})
    return buf.getvalue()
