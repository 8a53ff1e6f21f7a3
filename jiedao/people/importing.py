"""Import of people from .xlsx / .csv (KER-8) with a per-row error report.

Default: all or nothing — one bad row and nothing is written. With
``commit_valid_rows`` the good rows go in and the report lists the rest.
The whole file is validated before the first write.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from python_calamine import CalamineWorkbook

from jiedao.kernel.audit import audit_record
from jiedao.kernel.error_codes import KernelErrorCode
from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.permissions import require_capability
from jiedao.kernel.pii import crypto, idnumber
from jiedao.kernel.pii import phone as phone_mod
from jiedao.kernel.roles import Cap
from jiedao.places.models import Compound

from .models import Person, ResidenceType

COLUMNS = ("姓名", "身份证号", "手机号", "小区", "详细地址", "人口类型", "登记日期", "备注")
REQUIRED = {"姓名"}
RESIDENCE_BY_LABEL = {str(label): value for value, label in ResidenceType.choices} | {
    v: v for v in ResidenceType.values}
BATCH = 2000


@dataclass
class RowError:
    row: int  # the spreadsheet's row number, header = 1
    column: str
    message: str


@dataclass
class ImportReport:
    rows_total: int = 0
    rows_valid: int = 0
    created: int = 0
    committed: bool = False
    errors: list[RowError] = field(default_factory=list)

    @property
    def error_rows(self) -> int:
        return len({e.row for e in self.errors})


def template_workbook() -> bytes:
    """The downloadable template: header row, one example row, column notes."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("人员")
    bold = wb.add_format({"bold": True, "bg_color": "#E8F0FE"})
    text = wb.add_format({"num_format": "@"})
    for i, col in enumerate(COLUMNS):
        ws.write_string(0, i, col, bold)
        ws.set_column(i, i, 20, text)
    example = ["张三", "310110199001011237", "13812345678", "（填写小区名称）", "某路100弄1号101室", "常住人口",
               "2020-03-01", ""]
    for i, value in enumerate(example):
        ws.write_string(1, i, value)
    notes = wb.add_worksheet("说明")
    for i, line in enumerate([
        "姓名必填；身份证号为18位并通过校验；手机号11位；小区须为本居委会所辖小区名称；",
        "人口类型：户籍人口 / 常住人口 / 来沪人员 / 境外人员；登记日期格式 YYYY-MM-DD；",
        "请勿使用公式；默认任何一行有误则整批不导入。",
    ]):
        notes.write_string(i, 0, line)
    wb.close()
    return buf.getvalue()


def _formula_cells(data: bytes) -> set[tuple[int, int]]:
    """(row, column) of cells holding a formula in the first sheet; calamine only gives cached values."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = sorted(n for n in zf.namelist() if re.match(r"xl/worksheets/sheet\d+\.xml$", n))
            if not names:
                return set()
            first = _first_sheet_path(zf) or names[0]
            xml = zf.read(first).decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError):
        return set()
    out = set()
    for m in re.finditer(r'<c r="([A-Z]+)(\d+)"[^>]*?(?:/>|>(.*?)</c>)', xml, re.S):
        if m.group(3) and "<f" in m.group(3):
            col = 0
            for ch in m.group(1):
                col = col * 26 + ord(ch) - 64
            out.add((int(m.group(2)), col - 1))
    return out


def _first_sheet_path(zf: zipfile.ZipFile) -> str | None:
    try:
        wb = zf.read("xl/workbook.xml").decode()
        rels = zf.read("xl/_rels/workbook.xml.rels").decode()
    except KeyError:
        return None
    m = re.search(r'<sheet [^>]*r:id="([^"]+)"', wb)
    if not m:
        return None
    t = re.search(r'<Relationship [^>]*Id="%s"[^>]*Target="([^"]+)"' % re.escape(m.group(1)), rels) or re.search(
        r'<Relationship [^>]*Target="([^"]+)"[^>]*Id="%s"' % re.escape(m.group(1)), rels)
    if not t:
        return None
    target = t.group(1).lstrip("/")
    return target if target.startswith("xl/") else f"xl/{target}"


def read_rows(data: bytes, filename: str) -> tuple[list[str], list[list], set[tuple[int, int]]]:
    """Header, rows and formula cells of the first sheet; a broken file is a clear 400."""
    name = filename.lower()
    if len(data) > settings.IMPORT_MAX_BYTES:
        raise DomainError(KernelErrorCode.IMPORT_INVALID_FILE, _("文件过大。"))
    try:
        if name.endswith(".csv"):
            text = data.decode("utf-8-sig")
            rows = list(csv.reader(io.StringIO(text)))
            formulas: set[tuple[int, int]] = set()
        else:
            wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
            rows = wb.get_sheet_by_index(0).to_python(skip_empty_area=False)
            formulas = _formula_cells(data) if name.endswith((".xlsx", ".xlsm")) else set()
    except Exception as exc:  # calamine raises its own error types for every kind of broken file
        raise DomainError(KernelErrorCode.IMPORT_INVALID_FILE,
                          _("无法读取该文件，请使用下载的模板（.xlsx 或 .csv）。")) from exc
    if not rows:
        raise DomainError(KernelErrorCode.IMPORT_INVALID_FILE, _("文件是空的。"))
    header = [str(h).strip().lstrip("*") for h in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DomainError(KernelErrorCode.IMPORT_INVALID_FILE, _("缺少必需的列：%s") % "、".join(missing))
    return header, rows[1:], formulas


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _date(value) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


def person_import(*, actor, subdistrict, data: bytes, filename: str, commit_valid_rows: bool = False) -> ImportReport:
    require_capability(actor, Cap.PEOPLE_IMPORT)
    header, rows, formulas = read_rows(data, filename)
    col = {name: header.index(name) for name in COLUMNS if name in header}
    compounds = {c.name: c for c in Compound.objects.visible_to(actor).filter(subdistrict=subdistrict)
                 .only("id", "name", "grid_id")}
    report = ImportReport()
    today = dt.date.today()
    blind_key = crypto.keyring()  # resolve once; fail before reading rows if keys are missing
    del blind_key
    seen_ids: dict[str, int] = {}
    valid: list[tuple[int, Person]] = []

    def cell(row, name):
        i = col.get(name)
        return row[i] if i is not None and i < len(row) else None

    for offset, row in enumerate(rows):
        rownum = offset + 2
        if not any(_text(v) for v in row):
            continue
        report.rows_total += 1
        errors: list[RowError] = []
        for (frow, fcol) in formulas:
            if frow == rownum:
                errors.append(RowError(rownum, header[fcol] if fcol < len(header) else "?", _("不允许使用公式，请粘贴为数值。")))
        name = _text(cell(row, "姓名"))
        if not name:
            errors.append(RowError(rownum, "姓名", _("姓名不能为空。")))
        id_raw = _text(cell(row, "身份证号"))
        info = None
        if id_raw:
            try:
                info = idnumber.parse(id_raw, today=today)
            except idnumber.InvalidIdNumber as exc:
                errors.append(RowError(rownum, "身份证号", str(exc)))
        phone_raw = _text(cell(row, "手机号"))
        phone = ""
        if phone_raw:
            try:
                phone = phone_mod.parse(phone_raw)
            except phone_mod.InvalidPhone as exc:
                errors.append(RowError(rownum, "手机号", str(exc)))
        compound_name = _text(cell(row, "小区"))
        compound = None
        if compound_name:
            compound = compounds.get(compound_name)
            if compound is None:
                errors.append(RowError(rownum, "小区", _("小区“%s”不存在或不在您的管辖范围。") % compound_name))
        rtype_raw = _text(cell(row, "人口类型"))
        rtype = RESIDENCE_BY_LABEL.get(rtype_raw or "常住人口")
        if rtype is None:
            errors.append(RowError(rownum, "人口类型", _("人口类型应为：户籍人口、常住人口、来沪人员、境外人员。")))
        try:
            registered_on = _date(cell(row, "登记日期"))
        except ValueError:
            registered_on = None
            errors.append(RowError(rownum, "登记日期", _("日期格式不正确，应为 YYYY-MM-DD。")))
        bidx = ""
        if info is not None:
            bidx = crypto.blind_index("id", info.normalised)
            if bidx in seen_ids:
                errors.append(RowError(rownum, "身份证号", _("与第%d行的身份证号重复。") % seen_ids[bidx]))
            else:
                seen_ids[bidx] = rownum
        if errors:
            report.errors.extend(errors)
            continue
        person = Person(
            subdistrict=subdistrict, name=name, id_number=info.normalised if info else "", id_number_bidx=bidx,
            phone=phone, phone_bidx=crypto.blind_index("phone", phone) if phone else "",
            address=_text(cell(row, "详细地址")), compound=compound, grid_id=compound.grid_id if compound else None,
            sex=info.sex if info else "", birth_year=info.birth_date.year if info else None,
            residence_type=rtype, registered_on=registered_on, notes=_text(cell(row, "备注")),
        )
        valid.append((rownum, person))

    # Already registered in this sub-district (checked in one pass of indexed lookups).
    bidxs = [p.id_number_bidx for _, p in valid if p.id_number_bidx]
    existing: set[str] = set()
    for i in range(0, len(bidxs), 1000):
        existing |= set(Person.objects.filter(subdistrict=subdistrict, id_number_bidx__in=bidxs[i:i + 1000])
                        .values_list("id_number_bidx", flat=True))
    if existing:
        still = []
        for rownum, p in valid:
            if p.id_number_bidx in existing:
                report.errors.append(RowError(rownum, "身份证号", _("该身份证号已登记。")))
            else:
                still.append((rownum, p))
        valid = still
    report.errors.sort(key=lambda e: e.row)
    report.rows_valid = len(valid)
    if report.errors and not commit_valid_rows:
        audit_record(actor=actor, action="person.import", subdistrict_id=subdistrict.pk, outcome="failure",
                     object_type="people.person",
                     changes={"file_sha256": [None, hashlib.sha256(data).hexdigest()],
                              "rows": [None, report.rows_total], "error_rows": [None, report.error_rows]})
        return report
    with transaction.atomic():
        people = [p for _, p in valid]
        for i in range(0, len(people), BATCH):
            Person.objects.bulk_create(people[i:i + BATCH], batch_size=BATCH)
        report.created = len(people)
        report.committed = True
        # One record for the batch: the file's hash and counts (a row-per-record chain
        # of 100,000 appends would make the audit log the import's bottleneck).
        audit_record(actor=actor, action="person.import", subdistrict_id=subdistrict.pk, object_type="people.person",
                     changes={"file_sha256": [None, hashlib.sha256(data).hexdigest()],
                              "created": [None, report.created], "error_rows": [None, report.error_rows]})
    return report
