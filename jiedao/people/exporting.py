"""Export of the people list to .xlsx — always masked, always audited."""

from __future__ import annotations

import io

import xlsxwriter
from django.db import transaction

from jiedao.kernel.audit import audit_record
from jiedao.kernel.permissions import require_capability
from jiedao.kernel.pii.masking import mask_address, mask_id_number, mask_phone
from jiedao.kernel.roles import Cap

HEADER = ("姓名", "身份证号（脱敏）", "手机号（脱敏）", "小区", "地址（脱敏）", "性别", "出生年份", "人口类型", "登记日期")


@transaction.atomic
def person_export(*, actor, queryset, filters: dict) -> bytes:
    """``queryset`` must come from selectors.person_list (already scoped)."""
    require_capability(actor, Cap.PEOPLE_EXPORT)
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "constant_memory": True})
    ws = wb.add_worksheet("人员")
    for i, h in enumerate(HEADER):
        ws.write_string(0, i, h)
    count = 0
    for count, p in enumerate(queryset.iterator(chunk_size=2000), start=1):
        ws.write_row(count, 0, [
            p.name, mask_id_number(p.id_number), mask_phone(p.phone), p.compound.name if p.compound else "",
            mask_address(p.address), p.get_sex_display(), p.birth_year or "", p.get_residence_type_display(),
            p.registered_on.isoformat() if p.registered_on else "",
        ])
    wb.close()
    audit_record(actor=actor, action="person.export", object_type="people.person",
                 subdistrict_id=next(iter(sorted(_subdistricts(actor))), None),
                 changes={"rows": [None, count], "filters": [None, str(filters)[:200]]})
    return buf.getvalue()


def _subdistricts(actor):
    from jiedao.kernel.scoping import user_scope

    return user_scope(actor).subdistrict_ids
