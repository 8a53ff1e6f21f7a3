"""Import of people from .xlsx / .csv (KER-8) with a per-row error report.

Default: all or nothing — one bad row and nothing is written. With
``commit_valid_rows`` the good rows go in and the report lists the rest.

Speed (bench/people_import.py, docs/performance.md): 100,000 rows are a normal
upload. Every row is still validated, but the valid rows are written in batches
while later rows are validated, inside one transaction that is rolled back if any
row turns out bad (so all or nothing holds: nothing written stays). The batches go
to a writer thread: one multi-row INSERT per batch on SQLite, whose work runs
without the GIL, or COPY on PostgreSQL, whose work runs in the server. Values are
encrypted once, before the insert (``EncryptedTextField.get_prep_value`` would
encrypt them again); if ``Person`` gains a column this code does not know, the
batches go through ``bulk_create`` instead, on the caller's thread. The formula
scan of the sheet XML runs beside calamine's read; ISO dates skip ``strptime``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import queue
import re
import sqlite3
import threading
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter

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
            # The scan below only reports cells whose content holds "<f"; without one anywhere
            # in the sheet it cannot find any. So the sheet is first inflated piecewise, looking
            # for "<f", and a 100,000-row sheet (48 MB of XML) is neither held nor scanned whole.
            with zf.open(first) as sheet:
                tail = b""
                while chunk := sheet.read(1 << 20):
                    if b"<f" in chunk or b"<f" in tail + chunk[:1]:
                        break
                    tail = chunk[-1:]
                else:
                    return set()
            raw = zf.read(first)
    except (zipfile.BadZipFile, KeyError):
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


class _Background:
    """Run ``fn(*args)`` on a thread; ``result()`` waits and returns or re-raises."""

    def __init__(self, fn, *args):
        self._result = self._exc = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)
        self._thread.start()

    def _run(self, fn, args) -> None:
        try:
            self._result = fn(*args)
        except Exception as exc:  # re-raised by result(), on the caller's thread
            self._exc = exc

    def result(self):
        self._thread.join()
        if self._exc is not None:
            raise self._exc
        return self._result


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
            # The formula scan inflates the sheet XML on a second thread while calamine parses
            # the workbook: both run without the GIL for most of their time.
            scan = _Background(_formula_cells, data) if name.endswith((".xlsx", ".xlsm")) else None
            wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
            rows = wb.get_sheet_by_index(0).to_python(skip_empty_area=False)
            formulas = scan.result() if scan else set()
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
# A valid row is the tuple (spreadsheet row number, *values of _ROW_FIELDS); positions in it:
_BIDX_AT = 1 + _ROW_FIELDS.index("id_number_bidx")
_DATE_AT = 1 + _ROW_FIELDS.index("registered_on")
_NO_COMPOUND = (None, None)  # (compound_id, grid_id) of a row without a compound


def _fast_insert_possible() -> bool:
    """The prepared INSERT knows every column of Person; anything else goes through bulk_create."""
    meta = Person._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    encrypted = {f.attname for f in fields if isinstance(f, EncryptedTextField)}
    return ({f.attname for f in fields} == set(_ROW_FIELDS) | set(_CONSTANT_FIELDS)
            and len(fields) == len(_ROW_FIELDS) + len(_CONSTANT_FIELDS) and encrypted == set(_ENCRYPTED)
            and meta.get_field("version").has_default()
            and meta.get_field("created_at").auto_now_add and meta.get_field("updated_at").auto_now)


def _sqlite_cache_kib(rows: int) -> int:
    # The table and its indexes (two of them on random blind-index keys) outgrow SQLite's
    # default 2 MiB page cache after a few thousand rows; then every insert reads and
    # writes index pages. About 1 KiB a row, capped: raised for the import only.
    return min(128 * 1024, 8 * 1024 + rows)


def _registered_in(subdistrict, using: str, rows_in_file: int) -> set[str] | None:
    """The sub-district's registered blind indexes, read once when it holds no more people than
    the file has rows (a first import); None otherwise, and each batch is looked up instead."""
    people = Person.objects.using(using).filter(subdistrict=subdistrict)
    if people.count() > rows_in_file:
        return None
    return set(people.exclude(id_number_bidx="").values_list("id_number_bidx", flat=True).iterator(chunk_size=10_000))


class _Writer:
    """Writes batches of valid rows inside the import's transaction, as validation goes on.

    Each job is a batch of valid rows and whether to insert it. Before inserting, the
    batch's ID numbers are looked up among those already registered (unless the caller
    knew them all up front): a registered row is an error and is not written, and when
    ``stop_on_error`` (all or nothing) nothing more is inserted, only looked up — the
    caller rolls the transaction back.

    Fast path (``_fast_insert_possible``): ``put`` encrypts the batch and prepares its
    values; a background thread, given a cursor made on the caller's thread, writes it
    with one multi-row INSERT on SQLite (one ``sqlite3_step`` per batch, which runs
    without the GIL, so SQLite's work overlaps the validation of later rows) or COPY on
    PostgreSQL (the server works in its own process). The thread is the only user of
    the connection until ``close()`` joins it. Otherwise the jobs run inline through
    ``bulk_create``.
    """

    def __init__(self, *, subdistrict, using: str, rows_hint: int, lookup: bool, stop_on_error: bool):
        self.subdistrict = subdistrict
        self.using = using
        self.conn = connections[using]
        self.lookup = lookup
        self.stop_on_error = stop_on_error
        self.rows_hint = rows_hint
        self.fast = _fast_insert_possible()
        self.registered: list[int] = []  # row numbers found already registered (messages made by the caller)
        self.created = 0
        self.failed = False  # a registered row was found and stop_on_error
        self.batch_rows = BATCH
        self.conn.ensure_connection()
        if self.fast and self.conn.vendor == "sqlite":
            # One statement per batch: as many rows as the bound-parameter limit allows.
            columns = len(_ROW_FIELDS) + len(_CONSTANT_FIELDS)
            limit = self.conn.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            self.batch_rows = max(1, min(BATCH, limit // columns))
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._cursor = None
        self._exc: BaseException | None = None
        self._old_cache = None

    # --- the caller's side
    def put(self, rows: list[tuple], *, insert: bool) -> None:
        if not rows or not (insert or self.lookup):
            return
        if self._exc is not None:
            self.close()  # raises what the thread raised
        if not self.fast:
            self._job(rows, None, insert)
            return
        if self._thread is None:
            self._cursor = self.conn.cursor()  # made here: Django binds a connection's cursors to its thread
            self._prepare()
            self._thread = threading.Thread(target=self._run, name="person-import-writer", daemon=True)
            self._thread.start()
        # Encrypted here, on the caller's thread: the Python work shares the GIL either way, and
        # the writer, left with the database's own work, keeps up with validation.
        self._jobs.put((rows, self._params(rows) if insert and not self.failed else None, insert))

    def close(self) -> None:
        """Wait for the pending batches; re-raise what the thread raised (the transaction then rolls back)."""
        if self._thread is None:
            return
        self._jobs.put(None)
        self._thread.join()
        self._thread = None
        try:
            if self._old_cache is not None and self._exc is None:
                self._cursor.execute(f"PRAGMA cache_size = {int(self._old_cache)}")
        finally:
            self._cursor.close()
        if self._exc is not None:
            raise self._exc

    # --- the thread
    def _run(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                self._job(*job)
        except BaseException as exc:  # handed to close(), which re-raises it on the caller's thread
            self._exc = exc
            while self._jobs.get() is not None:  # drain: the caller stops at close()
                pass

    def _prepare(self) -> None:
        conn, cursor = self.conn, self._cursor
        meta = Person._meta
        order = _ROW_FIELDS + _CONSTANT_FIELDS
        qn = conn.ops.quote_name
        self._table = qn(meta.db_table)
        self._columns = ", ".join(qn(meta.get_field(name).column) for name in order)
        self._row_sql = f"({', '.join(['%s'] * len(order))})"
        self._qmarks = f"({', '.join(['?'] * len(order))})"
        version_field = meta.get_field("version")
        self._version = version_field.get_db_prep_save(version_field.get_default(), conn)
        self._dates: dict[dt.date, object] = {}
        self._copy = None
        if conn.vendor == "postgresql" and hasattr(getattr(cursor, "cursor", None), "copy"):
            self._copy = cursor.cursor.copy  # psycopg 3: COPY is several times faster than INSERTs
        self._lookup_sql = (f"SELECT {qn(meta.get_field('id_number_bidx').column)} FROM {self._table} "  # noqa: S608
                            f"WHERE {qn(meta.get_field('subdistrict').column)} = %s AND "
                            f"{qn(meta.get_field('id_number_bidx').column)} IN ")
        if conn.vendor == "sqlite":
            cursor.execute("PRAGMA cache_size")
            self._old_cache = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA cache_size = -{_sqlite_cache_kib(self.rows_hint)}")

    def _job(self, rows: list[tuple], params: list[tuple] | None, insert: bool) -> None:
        if self.lookup:
            existing = self._registered(rows)
            if existing:
                if params is not None:
                    params = [p for r, p in zip(rows, params, strict=True) if r[_BIDX_AT] not in existing]
                rows = [r for r in rows if r[_BIDX_AT] not in existing]
        if not insert or self.failed or not rows:
            return
        if self.fast:
            self._write(params)
        else:
            people = [Person(subdistrict=self.subdistrict, **dict(zip(_ROW_FIELDS, r[1:], strict=True))) for r in rows]
            Person.objects.using(self.using).bulk_create(people, batch_size=BATCH)
        self.created += len(rows)

    def _registered(self, rows: list[tuple]) -> set[str]:
        """The blind indexes of ``rows`` already registered in the sub-district (noted as errors)."""
        bidxs = [r[_BIDX_AT] for r in rows if r[_BIDX_AT]]
        existing: set[str] = set()
        for i in range(0, len(bidxs), 1000):
            chunk = bidxs[i:i + 1000]
            if self.fast:  # on the thread: through its cursor (the ORM's cursors are bound to the caller's thread)
                self._cursor.execute(self._lookup_sql + f"({', '.join(['%s'] * len(chunk))})",
                                     [self.subdistrict.pk, *chunk])
                existing.update(b for (b,) in self._cursor.fetchall())
            else:
                existing.update(Person.objects.using(self.using).filter(
                    subdistrict=self.subdistrict, id_number_bidx__in=chunk).values_list("id_number_bidx", flat=True))
        if existing:
            self.registered.extend(r[0] for r in rows if r[_BIDX_AT] in existing)
            if self.stop_on_error:
                self.failed = True
        return existing

    def _params(self, rows: list[tuple]) -> list[tuple]:
        """The INSERT/COPY values of ``rows``: encrypted, dates and timestamps prepared for the database."""
        conn = self.conn
        now = Person._meta.get_field("created_at").get_db_prep_save(timezone.now(), conn)  # auto_now(_add)
        id_numbers, phones, addresses = (crypto.encrypt_many([r[k] for r in rows]) for k in (2, 4, 6))
        dates = self._dates
        date_field = Person._meta.get_field("registered_on")
        sub, version = self.subdistrict.pk, self._version
        params = []
        for r, id_number, phone, address in zip(rows, id_numbers, phones, addresses, strict=True):
            d = r[_DATE_AT]
            if d is not None and d not in dates:
                dates[d] = date_field.get_db_prep_save(d, conn)
            params.append((r[1], id_number, r[3], phone, r[5], address, r[7], r[8], r[9], r[10], r[11],
                           None if d is None else dates[d], r[13], sub, version, now, now))
        return params

    def _write(self, params: list[tuple]) -> None:
        conn, cursor = self.conn, self._cursor
        if self._copy is not None:
            with self._copy(f"COPY {self._table} ({self._columns}) FROM STDIN") as copy:
                for v in params:
                    copy.write_row(v)
        elif conn.vendor == "sqlite":
            # Straight to sqlite3 with "?" placeholders: Django's wrapper would rewrite the
            # 34,000 "%s" of this statement with a regex on every batch (0.4 s an import).
            values = ", ".join([self._qmarks] * len(params))
            sql = f"INSERT INTO {self._table} ({self._columns}) VALUES {values}"  # noqa: S608 (model metadata, quoted)
            with conn.wrap_database_errors:
                sqlite3.Cursor.execute(cursor.cursor, sql, list(chain.from_iterable(params)))
        else:
            sql = f"INSERT INTO {self._table} ({self._columns}) VALUES {self._row_sql}"  # noqa: S608
            cursor.executemany(sql, params)


def person_import(*, actor, subdistrict, data: bytes, filename: str, commit_valid_rows: bool = False) -> ImportReport:
    """Validate every row and write the valid ones; all or nothing unless ``commit_valid_rows``.

    Rows are written in batches while later rows are still being validated, inside one
    transaction. All or nothing: at the first invalid row no more batches are written,
    the rest of the file is still validated for the report, and the transaction is rolled
    back, so nothing stays written. On SQLite the transaction (BEGIN IMMEDIATE) holds the
    database's write lock from the first full batch of valid rows to the commit or
    rollback — about the whole import — and other writers wait for it (20 s timeout).
    """
    require_capability(actor, Cap.PEOPLE_IMPORT)
    header, rows, formulas = read_rows(data, filename)
    col = {name: header.index(name) for name in COLUMNS if name in header}
    compounds = {name: (pk, grid_id) for name, pk, grid_id in Compound.objects.visible_to(actor)
                 .filter(subdistrict=subdistrict).values_list("name", "id", "grid_id")}
    report = ImportReport()
    today = dt.date.today()
    blind_index = crypto.blind_indexer()  # resolves the keys: fails before reading rows if they are missing
    crypto.encrypt("")  # the same for the encryption keys, before the writer starts
    using = router.db_for_write(Person)
    registered = _registered_in(subdistrict, using, len(rows))
    writer = _Writer(subdistrict=subdistrict, using=using, rows_hint=len(rows), lookup=registered is None,
                     stop_on_error=not commit_valid_rows)
    seen_ids: dict[str, int] = {}
    # Formula cells by row, each row's in the set's order (the errors come out as before).
    formulas_by_row: dict[int, list[int]] = {}
    for frow, fcol in formulas:
        formulas_by_row.setdefault(frow, []).append(fcol)
    # The cells of the known columns by one itemgetter; short rows (CSV) are padded first.
    at = [col.get(name) for name in COLUMNS]
    need = len(header)
    if None in at:  # a column the header lacks is None in every row
        def cells(row):
            return tuple(row[i] if i is not None and i < len(row) else None for i in at)
        need = 0
    else:
        cells = itemgetter(*at)
    residence = RESIDENCE_BY_LABEL
    parse_id, parse_phone = idnumber.parse, phone_mod.parse
    dates: dict[str, dt.date] = {}
    errors = report.errors
    rows_total = valid_rows = 0
    batch: list[tuple] = []
    failed = False  # an invalid row: with all or nothing, no more batches are written

    in_transaction = False

    with ExitStack() as stack:
        stack.callback(writer.close)  # also when no transaction was started (lookups only), or on an error

        def hand_over(rows_: list[tuple]) -> None:
            nonlocal in_transaction
            insert = not (failed or writer.failed)
            if insert and not in_transaction:
                # The transaction starts with the first batch to write (on SQLite, BEGIN IMMEDIATE
                # takes the write lock); the writer is closed before it commits or rolls back.
                stack.enter_context(transaction.atomic(using=using))
                stack.callback(writer.close)
                in_transaction = True
            writer.put(rows_, insert=insert)

        for offset, row in enumerate(rows):
            rownum = offset + 2
            for v in row:  # skip a blank row: every cell empty or whitespace
                if v is None or (v.__class__ is str and (not v or v.isspace())):
                    continue
                if v.__class__ is str or _text(v):
                    break
            else:
                continue
            rows_total += 1
            row_errors: list[RowError] = []
            if formulas_by_row:
                for fcol in formulas_by_row.get(rownum, ()):
                    row_errors.append(RowError(rownum, header[fcol] if fcol < len(header) else "?",
                                               _("不允许使用公式，请粘贴为数值。")))
            if len(row) < need:
                row = [*row, *([None] * (need - len(row)))]
            name, id_raw, phone_raw, compound_name, address, rtype_raw, date_raw, notes = cells(row)
            name = name.strip() if name.__class__ is str else _text(name)
            if not name:
                row_errors.append(RowError(rownum, "姓名", _("姓名不能为空。")))
            id_raw = id_raw.strip() if id_raw.__class__ is str else _text(id_raw)
            info = None
            if id_raw:
                try:
                    info = parse_id(id_raw, today=today)
                except idnumber.InvalidIdNumber as exc:
                    row_errors.append(RowError(rownum, "身份证号", str(exc)))
            phone_raw = phone_raw.strip() if phone_raw.__class__ is str else _text(phone_raw)
            phone = ""
            if phone_raw:
                try:
                    phone = parse_phone(phone_raw)
                except phone_mod.InvalidPhone as exc:
                    row_errors.append(RowError(rownum, "手机号", str(exc)))
            compound_name = compound_name.strip() if compound_name.__class__ is str else _text(compound_name)
            compound = _NO_COMPOUND
            if compound_name:
                compound = compounds.get(compound_name)
                if compound is None:
                    row_errors.append(RowError(rownum, "小区", _("小区“%s”不存在或不在您的管辖范围。") % compound_name))
            rtype_raw = rtype_raw.strip() if rtype_raw.__class__ is str else _text(rtype_raw)
            rtype = residence.get(rtype_raw or "常住人口")
            if rtype is None:
                row_errors.append(RowError(rownum, "人口类型", _("人口类型应为：户籍人口、常住人口、来沪人员、境外人员。")))
            registered_on = dates.get(date_raw) if date_raw.__class__ is str else None
            if registered_on is None:
                try:
                    registered_on = _date(date_raw)
                except ValueError:
                    row_errors.append(RowError(rownum, "登记日期", _("日期格式不正确，应为 YYYY-MM-DD。")))
                else:
                    if registered_on is not None and date_raw.__class__ is str:
                        dates[date_raw] = registered_on
            bidx = ""
            if info is not None:
                bidx = blind_index("id", info.normalised)
                if bidx in seen_ids:
                    row_errors.append(RowError(rownum, "身份证号", _("与第%d行的身份证号重复。") % seen_ids[bidx]))
                else:
                    seen_ids[bidx] = rownum
            if not row_errors and registered is not None and bidx in registered:
                row_errors.append(RowError(rownum, "身份证号", _("该身份证号已登记。")))
            if row_errors:
                errors.extend(row_errors)
                failed = not commit_valid_rows
                continue
            valid_rows += 1
            batch.append((
                rownum, name, info.normalised if info else "", bidx, phone,
                blind_index("phone", phone) if phone else "",
                address.strip() if address.__class__ is str else _text(address),
                *compound, info.sex if info else "", info.birth_date.year if info else None, rtype, registered_on,
                notes.strip() if notes.__class__ is str else _text(notes),
            ))
            if len(batch) >= writer.batch_rows:
                hand_over(batch)
                batch = []
        report.rows_total = rows_total
        hand_over(batch)
        writer.close()  # the last batches are in; a registered row may have turned up
        errors.extend(RowError(r, "身份证号", _("该身份证号已登记。")) for r in writer.registered)
        errors.sort(key=lambda e: e.row)
        report.rows_valid = valid_rows - len(writer.registered)
        if errors and not commit_valid_rows:
            if in_transaction:
                transaction.set_rollback(True, using=using)  # nothing written stays
        else:
            if not in_transaction:  # nothing to write; the audit record still goes in a transaction
                stack.enter_context(transaction.atomic(using=using))
            report.created = writer.created
            report.committed = True
            # One record for the batch: the file's hash and counts (a row-per-record chain
            # of 100,000 appends would make the audit log the import's bottleneck).
            audit_record(actor=actor, action="person.import", subdistrict_id=subdistrict.pk,
                         object_type="people.person",
                         changes={"file_sha256": [None, hashlib.sha256(data).hexdigest()],
                                  "created": [None, report.created], "error_rows": [None, report.error_rows]})
    if not report.committed:
        audit_record(actor=actor, action="person.import", subdistrict_id=subdistrict.pk, outcome="failure",
                     object_type="people.person",
                     changes={"file_sha256": [None, hashlib.sha256(data).hexdigest()],
                              "rows": [None, report.rows_total], "error_rows": [None, report.error_rows]})
    return report
