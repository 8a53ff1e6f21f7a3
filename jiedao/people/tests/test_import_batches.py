"""The import writes batches while it validates, inside one transaction (people.importing._Writer).

BATCH is made small here so that a few rows already make several batches, written before
the later rows are read. Each test runs on both write paths (the writer thread with a
multi-row INSERT or COPY, and the inline bulk_create fallback) and both ways of finding
registered ID numbers (read up front, or looked up per batch by the writer).
"""

import pytest
from django.db import connection

from conftest import make_id
from jiedao.kernel.models import AuditRecord
from jiedao.people import importing
from jiedao.people.importing import person_import
from jiedao.people.models import Person
from jiedao.people.selectors import person_list
from jiedao.people.tests.test_import_export import good_row, workbook


@pytest.fixture(params=["thread", "inline"])
def write_path(request, monkeypatch):
    monkeypatch.setattr(importing, "BATCH", 3)
    if request.param == "inline":
        monkeypatch.setattr(importing, "_fast_insert_possible", lambda: False)
    return request.param


@pytest.fixture(params=["up_front", "per_batch"])
def registered_lookup(request, monkeypatch):
    if request.param == "per_batch":
        monkeypatch.setattr(importing, "_registered_in", lambda *args: None)
    return request.param


@pytest.fixture
def writes(monkeypatch):
    """The batches that reached the database (row counts), whichever path wrote them."""
    seen: list[int] = []
    fast_write, slow_job = importing._Writer._write, importing._Writer._job

    def spy_write(self, params):
        seen.append(len(params))
        return fast_write(self, params)

    def spy_job(self, rows, params, insert):
        before = self.created
        slow_job(self, rows, params, insert)
        if not self.fast and self.created > before:
            seen.append(self.created - before)

    monkeypatch.setattr(importing._Writer, "_write", spy_write)
    monkeypatch.setattr(importing._Writer, "_job", spy_job)
    return seen


def test_a_bad_row_after_written_batches_leaves_nothing(town, write_path, registered_lookup, writes):
    before = Person.objects.count()
    rows = [good_row(n) for n in range(1, 11)] + [["坏行", make_id(99)[:-1] + "Z", "", "", "", "", "", ""]]
    report = person_import(actor=town.users["rc_staff"], subdistrict=town.sub, data=workbook(rows), filename="p.xlsx")
    assert sum(writes) == 9  # three batches went in before row 12 was read
    assert not report.committed and report.created == 0 and report.rows_valid == 10
    assert [(e.row, e.column) for e in report.errors] == [(12, "身份证号")]
    assert Person.objects.count() == before  # rolled back
    assert AuditRecord.objects.get(action="person.import").outcome == "failure"


def test_a_registered_row_found_after_written_batches_leaves_nothing(town, write_path, registered_lookup, writes):
    before = Person.objects.count()
    p1 = town.people["p1"]
    rows = [good_row(n) for n in range(1, 8)] + [["已登记", p1.id_number, "", "", "", "", "", ""]]
    report = person_import(actor=town.users["rc_staff"], subdistrict=town.sub, data=workbook(rows), filename="p.xlsx")
    assert not report.committed and Person.objects.count() == before
    assert [(e.row, e.column, e.message) for e in report.errors] == [(9, "身份证号", "该身份证号已登记。")]
    assert report.rows_valid == 7 and sum(writes) >= 6


def test_errors_come_out_in_row_order_whatever_found_them(town, write_path, registered_lookup):
    p1 = town.people["p1"]
    rows = [["已登记", p1.id_number, "", "", "", "", "", ""]] + [good_row(n) for n in range(1, 5)] + [
        ["坏电话", make_id(98), "12345", "", "", "", "", ""], [None, make_id(97), "", "", "", "", "", ""]]
    report = person_import(actor=town.users["rc_staff"], subdistrict=town.sub, data=workbook(rows), filename="p.xlsx")
    assert [(e.row, e.column) for e in report.errors] == [(2, "身份证号"), (7, "手机号"), (8, "姓名")]


def test_commit_valid_rows_writes_every_good_batch_and_skips_the_rest(town, write_path, registered_lookup, writes):
    before = Person.objects.count()
    p1 = town.people["p1"]
    rows = ([good_row(n) for n in range(1, 5)] + [["已登记", p1.id_number, "", "", "", "", "", ""]]
            + [good_row(n) for n in range(5, 9)] + [["坏日期", make_id(96), "", "", "", "", "2020-02-30", ""]])
    report = person_import(actor=town.users["rc_staff"], subdistrict=town.sub, data=workbook(rows), filename="p.xlsx",
                           commit_valid_rows=True)
    assert report.committed and report.created == 8 and report.rows_valid == 8 and sum(writes) == 8
    assert [(e.row, e.column) for e in report.errors] == [(6, "身份证号"), (11, "登记日期")]
    assert Person.objects.count() == before + 8


def test_imported_people_are_found_by_full_id_number_and_phone(town, write_path):
    rows = [good_row(n) for n in range(1, 8)]
    rows[4][2] = "+86 139-0000-1234"
    report = person_import(actor=town.users["rc_staff"], subdistrict=town.sub, data=workbook(rows), filename="p.xlsx")
    assert report.committed and report.created == 7
    rc = town.users["rc_staff"]
    found = list(person_list(user=rc, q=rows[4][1].lower()))
    assert [p.name for p in found] == ["赵5"] and found[0].phone == "13900001234"
    assert [p.name for p in person_list(user=rc, q="139 0000 1234")] == ["赵5"]
    stored = Person.objects.get(name="赵5")
    assert len(stored.id_number_bidx) == len(stored.phone_bidx) == 32


def test_a_failing_write_rolls_back_and_is_raised(town, write_path, monkeypatch):
    before = Person.objects.count()
    fast_write = importing._Writer._write
    calls = []

    def fail_second(self, params):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return fast_write(self, params)

    monkeypatch.setattr(importing._Writer, "_write", fail_second)
    monkeypatch.setattr(importing, "_fast_insert_possible", lambda: True)
    with pytest.raises(RuntimeError, match="disk full"):
        person_import(actor=town.users["rc_staff"], subdistrict=town.sub,
                      data=workbook([good_row(n) for n in range(1, 11)]), filename="p.xlsx")
    assert Person.objects.count() == before


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's page cache")
def test_sqlite_page_cache_is_restored_after_the_import(town):
    with connection.cursor() as cur:
        cur.execute("PRAGMA cache_size")
        (cache,) = cur.fetchone()
    person_import(actor=town.users["rc_staff"], subdistrict=town.sub,
                  data=workbook([good_row(n) for n in range(1, 4)]), filename="p.xlsx")
    with connection.cursor() as cur:
        cur.execute("PRAGMA cache_size")
        assert cur.fetchone() == (cache,)
