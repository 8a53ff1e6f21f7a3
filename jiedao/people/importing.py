"""Import of people from .xlsx / .csv (KER-8) with a per-row error report.

Default: all or nothing — one bad row and nothing is written. With
``commit_valid_rows`` the good rows go in and the report lists the rest.
The whole file is validated before the first write.

Speed (bench/people_import.py, docs/performance.md): 100,000 rows are a
normal upload, so the hot path avoids per-row work that does not depend on
the row: the formula scan is skipped when the sheet has no ``<f`` element,
ISO dates skip ``strptime``, the blind index and the encryption use a key
resolved once (each checked against ``crypto`` before use), and the rows are
written with one prepared INSERT per batch (COPY on PostgreSQL) instead of
``bulk_create`` compiling 17 parameters per row — values are encrypted once,
up front, because ``EncryptedTextField.get_prep_value`` would encrypt them
again. If ``Person`` gains a column this code does not know, or a check
fails, it falls back to ``bulk_create``.
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
from django.db import connections, router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from python_calamine import CalamineWorkbook

from jiedao.kernel.audit import audit_record
from jiedao.kernel.error_codes import KernelErrorCode
from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.permissions import require_capability
from jiedao.kernel.pii import crypto, idnumber
from jiedao.kernel.pii import phone as phone_mod
from jiedao.kernel.pii.fields import EncryptedTextField
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
            raw = zf.read(first)
    except (zipfile.BadZipFile, KeyError):
        return set()
    if b"<f" not in raw:
        # The scan below only reports cells whose content holds "<f"; without one anywhere
        # in the sheet it cannot find any, and a 100,000-row sheet is spared the regex.
        return set()
    xml = raw.decode("utf-8", "replace")
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
    if value.__class__ is str:  # the common case first
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def _date(value) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if _ISO_DATE.match(text):  # YYYY-MM-DD: what the template asks for; strptime costs 4 µs a call
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass  # e.g. 2020-13-45: the formats below reject it too, and raise as before
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


# The columns a valid row fills, in the order of the tuples built below.
_ROW_FIELDS = ("name", "id_number", "id_number_bidx", "phone", "phone_bidx", "address", "compound_id", "grid_id",
               "sex", "birth_year", "residence_type", "registered_on", "notes")
_ENCRYPTED = ("id_number", "phone", "address")
# Filled the same for every row of an import.
_CONSTANT_FIELDS = ("subdistrict_id", "version", "created_at", "updated_at")


def _fast_insert_possible() -> bool:
    """The prepared INSERT knows every column of Person; anything else goes through bulk_create."""
    meta = Person._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    encrypted = {f.attname for f in fields if isinstance(f, EncryptedTextField)}
    return ({f.attname for f in fields} == set(_ROW_FIELDS) | set(_CONSTANT_FIELDS)
            and len(fields) == len(_ROW_FIELDS) + len(_CONSTANT_FIELDS) and encrypted == set(_ENCRYPTED)
            and meta.get_field("version").has_default()
            and meta.get_field("created_at").auto_now_add and meta.get_field("updated_at").auto_now)


@dataclass
class _Plain:
    """A valid row, before encryption: the values of _ROW_FIELDS."""

    rownum: int
    values: tuple


def _bulk_create(rows: list[_Plain], subdistrict, using: str) -> None:
    """The general path: Person objects and bulk_create (the fields encrypt on the way in)."""
    people = [Person(subdistrict=subdistrict, **dict(zip(_ROW_FIELDS, r.values, strict=True))) for r in rows]
    for i in range(0, len(people), BATCH):
        Person.objects.using(using).bulk_create(people[i:i + BATCH], batch_size=BATCH)


def _sqlite_cache_kib(rows: int) -> int:
    # The table and its eight indexes (three of them on random 64-character keys) outgrow
    # SQLite's default 2 MiB page cache after a few thousand rows; then every insert reads
    # and writes index pages. About 1 KiB a row, capped: raised for the import only.
    return min(128 * 1024, 8 * 1024 + rows)


def _fast_insert(rows: list[_Plain], subdistrict, using: str, encrypt) -> None:
    conn = connections[using]
    meta = Person._meta
    order = _ROW_FIELDS + _CONSTANT_FIELDS
    qn = conn.ops.quote_name
    columns = ", ".join(qn(meta.get_field(name).column) for name in order)
    table = qn(meta.db_table)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(order))})"  # noqa: S608 (model metadata, quoted)
    version_field = meta.get_field("version")
    version = version_field.get_db_prep_save(version_field.get_default(), conn)
    date_field = meta.get_field("registered_on")
    dates: dict[dt.date, object] = {}
    stamp_field = meta.get_field("created_at")
    enc_at = [_ROW_FIELDS.index(name) for name in _ENCRYPTED]
    date_at = _ROW_FIELDS.index("registered_on")
    raw_copy = None
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql" and hasattr(getattr(cursor, "cursor", None), "copy"):
            raw_copy = cursor.cursor.copy  # psycopg 3: COPY is several times faster than INSERTs
        old_cache = None
        if conn.vendor == "sqlite":
            cursor.execute("PRAGMA cache_size")
            old_cache = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA cache_size = -{_sqlite_cache_kib(len(rows))}")
        try:
            for i in range(0, len(rows), BATCH):
                batch = rows[i:i + BATCH]
                now = stamp_field.get_db_prep_save(timezone.now(), conn)  # auto_now / auto_now_add
                columns_enc = [encrypt([r.values[k] for r in batch]) for k in enc_at]
                params = []
                for j, r in enumerate(batch):
                    v = list(r.values)
                    for k, col_values in zip(enc_at, columns_enc, strict=True):
                        v[k] = col_values[j]
                    d = v[date_at]
                    if d is not None:
                        if d not in dates:
                            dates[d] = date_field.get_db_prep_save(d, conn)
                        v[date_at] = dates[d]
                    v += (subdistrict.pk, version, now, now)
                    params.append(v)
                if raw_copy is not None:
                    with raw_copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for v in params:
                            copy.write_row(v)
                else:
                    cursor.executemany(sql, params)
        finally:
            if old_cache is not None:
                cursor.execute(f"PRAGMA cache_size = {int(old_cache)}")


def _already_registered(subdistrict, bidxs: list[str]) -> set[str]:
    """The blind indexes among ``bidxs`` already registered in the sub-district.

    When the sub-district holds no more people than the file (a first import), one
    indexed read of its blind indexes is cheaper than a thousand-value IN per 1,000
    rows (100 queries for 100,000 rows); otherwise the chunked lookups.
    """
    if not bidxs:
        return set()
    people = Person.objects.filter(subdistrict=subdistrict)
    if people.count() <= len(bidxs):
        wanted = set(bidxs)
        return {b for b in people.exclude(id_number_bidx="").values_list("id_number_bidx", flat=True)
                .iterator(chunk_size=10_000) if b in wanted}
    existing: set[str] = set()
    for i in range(0, len(bidxs), 1000):
        existing |= set(people.filter(id_number_bidx__in=bidxs[i:i + 1000]).values_list("id_number_bidx", flat=True))
    return existing


def person_import(*, actor, subdistrict, data: bytes, filename: str, commit_valid_rows: bool = False) -> ImportReport:
    require_capability(actor, Cap.PEOPLE_IMPORT)
    header, rows, formulas = read_rows(data, filename)
    col = {name: header.index(name) for name in COLUMNS if name in header}
    compounds = {c.name: c for c in Compound.objects.visible_to(actor).filter(subdistrict=subdistrict)
                 .only("id", "name", "grid_id")}
    report = ImportReport()
    today = dt.date.today()
    blind_index = crypto.blind_indexer()  # resolves the keys: fails before reading rows if they are missing
    seen_ids: dict[str, int] = {}
    valid: list[_Plain] = []
    # Formula cells by row, each row's in the set's order (the errors come out as before).
    formulas_by_row: dict[int, list[int]] = {}
    for frow, fcol in formulas:
        formulas_by_row.setdefault(frow, []).append(fcol)
    at = {name: col.get(name) for name in COLUMNS}
    i_name, i_id, i_phone, i_compound = at["姓名"], at["身份证号"], at["手机号"], at["小区"]
    i_address, i_rtype, i_date, i_notes = at["详细地址"], at["人口类型"], at["登记日期"], at["备注"]
    residence = RESIDENCE_BY_LABEL

    def cell(row, i):
        return row[i] if i is not None and i < len(row) else None

    for offset, row in enumerate(rows):
        rownum = offset + 2
        for v in row:  # skip a blank row: every cell empty or whitespace
            if v is None or (v.__class__ is str and (not v or v.isspace())):
                continue
            if v.__class__ is str or _text(v):
                break
        else:
            continue
        report.rows_total += 1
        errors: list[RowError] = []
        for fcol in formulas_by_row.get(rownum, ()):
            errors.append(RowError(rownum, header[fcol] if fcol < len(header) else "?", _("不允许使用公式，请粘贴为数值。")))
        name = _text(cell(row, i_name))
        if not name:
            errors.append(RowError(rownum, "姓名", _("姓名不能为空。")))
        id_raw = _text(cell(row, i_id))
        info = None
        if id_raw:
            try:
                info = idnumber.parse(id_raw, today=today)
            except idnumber.InvalidIdNumber as exc:
                errors.append(RowError(rownum, "身份证号", str(exc)))
        phone_raw = _text(cell(row, i_phone))
        phone = ""
        if phone_raw:
            try:
                phone = phone_mod.parse(phone_raw)
            except phone_mod.InvalidPhone as exc:
                errors.append(RowError(rownum, "手机号", str(exc)))
        compound_name = _text(cell(row, i_compound))
        compound = None
        if compound_name:
            compound = compounds.get(compound_name)
            if compound is None:
                errors.append(RowError(rownum, "小区", _("小区“%s”不存在或不在您的管辖范围。") % compound_name))
        rtype_raw = _text(cell(row, i_rtype))
        rtype = residence.get(rtype_raw or "常住人口")
        if rtype is None:
            errors.append(RowError(rownum, "人口类型", _("人口类型应为：户籍人口、常住人口、来沪人员、境外人员。")))
        try:
            registered_on = _date(cell(row, i_date))
        except ValueError:
            registered_on = None
            errors.append(RowError(rownum, "登记日期", _("日期格式不正确，应为 YYYY-MM-DD。")))
        bidx = ""
        if info is not None:
            bidx = blind_index("id", info.normalised)
            if bidx in seen_ids:
                errors.append(RowError(rownum, "身份证号", _("与第%d行的身份证号重复。") % seen_ids[bidx]))
            else:
                seen_ids[bidx] = rownum
        if errors:
            report.errors.extend(errors)
            continue
        valid.append(_Plain(rownum, (
            name, info.normalised if info else "", bidx, phone, blind_index("phone", phone) if phone else "",
            _text(cell(row, i_address)), compound.pk if compound else None, compound.grid_id if compound else None,
            info.sex if info else "", info.birth_date.year if info else None, rtype, registered_on,
            _text(cell(row, i_notes)),
        )))

    # Already registered in this sub-district.
    bidxs = [r.values[2] for r in valid if r.values[2]]
    existing = _already_registered(subdistrict, bidxs)
    if existing:
        still = []
        for r in valid:
            if r.values[2] in existing:
                report.errors.append(RowError(r.rownum, "身份证号", _("该身份证号已登记。")))
            else:
                still.append(r)
        valid = still
    report.errors.sort(key=lambda e: e.row)
    report.rows_valid = len(valid)
    if report.errors and not commit_valid_rows:
        audit_record(actor=actor, action="person.import", subdistrict_id=subdistrict.pk, outcome="failure",
                     object_type="people.person",
                     changes={"file_sha256": [None, hashlib.sha256(data).hexdigest()],
                              "rows": [None, report.rows_total], "error_rows": [None, report.error_rows]})
        return report
    using = router.db_for_write(Person)
    with transaction.atomic(using=using):
        if _fast_insert_possible():
            _fast_insert(valid, subdistrict, using, crypto.encrypt_many)
        else:
            _bulk_create(valid, subdistrict, using)
        report.created = len(valid)
        report.committed = True
        # One record for the batch: the file's hash and counts (a row-per-record chain
        # of 100,000 appends would make the audit log the import's bottleneck).
        audit_record(actor=actor, action="person.import", subdistrict_id=subdistrict.pk, object_type="people.person",
                     changes={"file_sha256": [None, hashlib.sha256(data).hexdigest()],
                              "created": [None, report.created], "error_rows": [None, report.error_rows]})
    return report
