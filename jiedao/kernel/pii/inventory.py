"""The inventory of every personal field (个人信息保护法 第51条: 个人信息分类管理).

Machine-readable; `docs/personal-information.md` is generated from it and a
test fails when a model gains a field that looks personal and is not here.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class PersonalField:
    model: str  # app_label.ModelName
    field: str
    cls: str  # "sensitive" (敏感个人信息) or "general"
    stored: str  # "encrypted", "blind index", "plain", "derived"
    purpose: str
    legal_basis: str
    retention: str
    readers: tuple[str, ...]  # roles that may read it (masked unless they hold people.reveal and give a reason)


_STAFF = ("rc_staff", "grid_worker")
_BASIS = "个人信息保护法 第13条第1款第3项（为履行法定职责所必需）、第34条（国家机关履职）"
_RETENTION = "迁出或注销后保留2年，期满删除"
_CASE_BASIS = "个人信息保护法 第13条第1款第3项（履行法定职责）、第34条；12345热线工单办理规定"
_CASE_RETENTION = "结案后随案卷保存（档案保管期限）"
_CASE_STAFF = ("dispatcher", "department_handler")

INVENTORY: tuple[PersonalField, ...] = (
    PersonalField("people.Person", "name", "general", "plain", "识别与联系服务对象", _BASIS, _RETENTION, _STAFF),
    PersonalField("people.Person", "id_number", "sensitive", "encrypted", "唯一识别、防重、核验身份", _BASIS,
                  _RETENTION, _STAFF),
    PersonalField("people.Person", "id_number_bidx", "sensitive", "blind index", "按完整身份证号精确查找", _BASIS,
                  _RETENTION, ()),
    PersonalField("people.Person", "phone", "general", "encrypted", "联系服务对象", _BASIS, _RETENTION, _STAFF),
    PersonalField("people.Person", "phone_bidx", "general", "blind index", "按完整电话号码精确查找", _BASIS,
                  _RETENTION, ()),
    PersonalField("people.Person", "address", "general", "encrypted", "上门服务、走访", _BASIS, _RETENTION, _STAFF),
    PersonalField("people.Person", "sex", "general", "derived", "统计、分类服务", _BASIS, _RETENTION, _STAFF),
    PersonalField("people.Person", "birth_year", "general", "derived", "年龄段服务（为老服务等）", _BASIS,
                  _RETENTION, _STAFF),
    PersonalField("people.Person", "residence_type", "general", "plain", "人口分类管理", _BASIS, _RETENTION, _STAFF),
    PersonalField("people.Person", "notes", "general", "plain", "工作备注（不得记录敏感信息）", _BASIS, _RETENTION,
                  _STAFF),
    PersonalField("kernel.User", "display_name", "general", "plain", "工作人员身份", "劳动人事管理",
                  "账号注销后2年", ("security_admin",)),
    PersonalField("kernel.User", "email", "general", "plain", "工作人员联系", "劳动人事管理", "账号注销后2年",
                  ("security_admin",)),
    PersonalField("kernel.User", "first_name", "general", "plain", "工作人员身份", "劳动人事管理", "账号注销后2年",
                  ("security_admin",)),
    PersonalField("kernel.User", "last_name", "general", "plain", "工作人员身份", "劳动人事管理", "账号注销后2年",
                  ("security_admin",)),
    PersonalField("kernel.AuditRecord", "ip", "general", "plain", "安全审计", "网络安全法 第21条", "至少6个月",
                  ("audit_admin",)),
    PersonalField("kernel.AuditRecord", "user_agent", "general", "plain", "安全审计", "网络安全法 第21条", "至少6个月",
                  ("audit_admin",)),
    # 一网统管: who reported a problem (12345 callers, residents, Open311 clients) and where it is.
    PersonalField("cases.Case", "reporter_name", "general", "plain", "回访反映人", _CASE_BASIS, _CASE_RETENTION,
                  _CASE_STAFF),
    PersonalField("cases.Case", "reporter_phone", "general", "encrypted", "回访反映人", _CASE_BASIS, _CASE_RETENTION,
                  _CASE_STAFF),
    PersonalField("cases.Case", "address", "general", "plain", "问题发生地点（12345工单可能含门牌室号）", _CASE_BASIS,
                  _CASE_RETENTION, ("dispatcher", "department_handler", "grid_worker", "leader")),
    PersonalField("cases.CaseEvent", "actor_name", "general", "plain",
                  "处置记录的经办人（工作人员姓名；群众上报时只存来源和脱敏姓名）", _CASE_BASIS, _CASE_RETENTION,
                  ("dispatcher", "department_handler", "grid_worker", "leader")),
)

# Field names that suggest personal information; a model field matching one must be inventoried.
LOOKS_PERSONAL = (
    "name", "id_number", "idcard", "phone", "mobile", "tel", "address", "birth", "sex", "gender", "email",
    "passport", "ethnic", "religion", "health", "temperature", "ip", "user_agent", "wechat", "household",
)
# Fields whose names match but hold no personal information (place names, user names, codes).
NOT_PERSONAL = {
    "kernel.Subdistrict.name", "kernel.OrgUnit.name", "kernel.User.username", "kernel.AuditRecord.actor_username",
    "places.Grid.name", "places.Compound.name", "places.Compound.address", "places.Compound.households",
    "places.Building.name", "places.Building.address", "places.Premises.name", "places.Premises.address",
    "places.Road.name", "places.River.name", "kernel.AuditRecord.object_type", "kernel.CalendarDay.name", "kernel.Notification.recipient",
    # names of things, and free texts about things ("description" only looks like "ip")
    "cases.CaseCategory.name", "cases.Case.description", "cases.AlarmSource.name", "cases.Open311Key.name",
    "inspections.ChecklistTemplate.name", "inspections.ChecklistTemplate.description",
    "inspections.InspectionPlan.name", "inspections.PlanTarget.target_name", "inspections.Inspection.target_name",
    "streets.DronePhoto.original_name", "streets.ImprovementProject.name",
    "streets.ImprovementProject.description", "streets.Milestone.name",
}


def inventoried(model_label: str, field: str) -> bool:
    return any(p.model == model_label and p.field == field for p in INVENTORY)


def render_markdown(entries=INVENTORY) -> str:
    from .crypto import BLIND_INDEX_CHARS

    lines = [
        "# Personal information inventory",
        "",
        "Generated by `python manage.py pii_inventory > docs/personal-information.md` from",
        "`jiedao/kernel/pii/inventory.py`; a test fails when the two differ or a model gains an unlisted personal field.",
        "Readers see every field masked unless they hold `people.reveal` and give a reason (audited).",
        "",
        "Stored as *encrypted*: AES-256-GCM (SM4-GCM with `JIEDAO_PII_CIPHER=SM4-GCM`),",
        "`<cipher>$<key id>$<base64>`. Stored as *blind index*: keyed HMAC-SHA256 (HMAC-SM3 with",
        f"`JIEDAO_BLIND_INDEX_HASH=SM3`) of `<kind>:<normalised value>`, its first {BLIND_INDEX_CHARS} hex characters",
        f"({BLIND_INDEX_CHARS * 4} bits); it serves exact search only.",
        "",
        "| model | field | class | stored | purpose | legal basis | retention | roles that read it |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        lines.append(f"| {e.model} | {e.field} | {e.cls} | {e.stored} | {e.purpose} | {e.legal_basis} | "
                     f"{e.retention} | {', '.join(e.readers) or '—'} |")
    return "\n".join(lines) + "\n"
