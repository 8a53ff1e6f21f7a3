import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from python_calamine import CalamineWorkbook

from conftest import make_id
from jiedao.kernel.exceptions import DomainError, PermissionDeniedError
from jiedao.kernel.models import AuditRecord
from jiedao.people.importing import COLUMNS, person_import
from jiedao.people.models import Person

GOOD = ["赵六", None, "13811112222", "甲街道小区1", "测试路1号101室", "常住人口", "2020-03-01", ""]


def workbook(rows) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(COLUMNS))
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def good_row(n):
    row = list(GOOD)
    row[0] = f"赵{n}"
    row[1] = make_id(200 + n)
    return row


def broken_rows(town):
    dup = make_id(300)
    return [
        good_row(1),
        ["坏校验", make_id(301)[:-1] + ("0" if make_id(301)[-1] != "0" else "1"), "", "", "", "", "", ""],
        ["重复甲", dup, "", "", "", "", "", ""],
        ["重复乙", dup, "", "", "", "", "", ""],
        [None, make_id(302), "", "", "", "", "", ""],
        ["错日期", make_id(303), "", "", "", "", "2020-13-45", ""],
        ["公式", make_id(304), "=1+1", "", "", "", "", ""],
        ["外区", make_id(305), "", "乙街道小区1", "", "", "", ""],
        ["已登记", town.people["p1"].id_number, "", "", "", "", "", ""],
    ]


def test_template_downloads_with_the_columns(town, client_for):
    r = client_for(town.users["rc_staff"]).get("/people/template.xlsx")
    assert r.status_code == 200
    rows = CalamineWorkbook.from_filelike(io.BytesIO(r.content)).get_sheet_by_index(0).to_python()
    assert tuple(rows[0]) == COLUMNS


def test_broken_rows_give_a_per_row_report_and_nothing_is_imported(town, other_town):
    before = Person.objects.count()
    report = person_import(actor=town.users["rc_staff"], subdistrict=town.sub, data=workbook(broken_rows(town)),
                           filename="p.xlsx")
    assert not report.committed and report.created == 0
    assert Person.objects.count() == before
    by_row = {(e.row, e.column): e.message for e in report.errors}
    assert "校验位" in by_row[(3, "身份证号")]
    assert "第4行" in by_row[(5, "身份证号")]
    assert "姓名不能为空" in by_row[(6, "姓名")]
    assert "日期格式" in by_row[(7, "登记日期")]
    assert "公式" in by_row[(8, "手机号")]
    assert "不存在或不在您的管辖范围" in by_row[(9, "小区")]
    assert "已登记" in by_row[(10, "身份证号")]
    assert (2, "姓名") not in by_row and report.rows_total == 9
    assert AuditRecord.objects.filter(action="person.import", outcome="failure").exists()


def test_commit_valid_rows_imports_only_the_good_ones(town):
    report = person_import(actor=town.users["rc_staff"], subdistrict=town.sub, data=workbook(broken_rows(town)),
                           filename="p.xlsx", commit_valid_rows=True)
    assert report.committed and report.created == 2  # row 2 and the first of the duplicates
    p = Person.objects.get(name="赵1")
    assert p.phone == "13811112222" and p.compound == town.compounds["c1"] and p.registered_on.isoformat() == "2020-03-01"


def test_good_workbook_imports_everything(town):
    report = person_import(actor=town.users["rc_staff"], subdistrict=town.sub,
                           data=workbook([good_row(n) for n in range(1, 21)]), filename="p.xlsx")
    assert report.committed and report.created == 20 and report.errors == []
    assert AuditRecord.objects.get(action="person.import").changes["created"] == [None, 20]


def test_csv_is_accepted(town):
    text = ",".join(COLUMNS) + "\n" + ",".join(str(v or "") for v in good_row(5)) + "\n"
    report = person_import(actor=town.users["rc_staff"], subdistrict=town.sub, data=text.encode("utf-8-sig"),
                           filename="p.csv")
    assert report.created == 1


@pytest.mark.parametrize("data, name", [
    (b"PK\x03\x04 this is not really a zip", "p.xlsx"),
    (b"\x89PNG\r\n\x1a\n fake", "p.xlsx"),
    (b"", "p.xlsx"),
    ("名字,电话\n张三,1\n".encode(), "p.csv"),
])
def test_broken_spreadsheets_are_a_clear_400(town, data, name):
    with pytest.raises(DomainError) as exc:
        person_import(actor=town.users["rc_staff"], subdistrict=town.sub, data=data, filename=name)
    assert exc.value.code == "import_invalid_file"


def test_import_needs_the_capability(town):
    with pytest.raises(PermissionDeniedError):
        person_import(actor=town.users["grid_worker"], subdistrict=town.sub, data=workbook([good_row(1)]),
                      filename="p.xlsx")


def test_import_over_the_api_and_the_page(town, client_for):
    c = client_for(town.users["rc_staff"])
    r = c.post("/api/v1/people/import", {"file": SimpleUploadedFile("p.xlsx", workbook(broken_rows(town)))})
    assert r.status_code == 200 and r.json()["committed"] is False and len(r.json()["errors"]) == 7
    page = c.post("/people/import/", {"file": SimpleUploadedFile("p.xlsx", workbook(broken_rows(town)))})
    html = page.content.decode()
    assert "本次未导入任何数据" in html and "校验位" in html
    bad = c.post("/api/v1/people/import", {"file": SimpleUploadedFile("p.xlsx", b"garbage")})
    assert bad.status_code == 400 and bad.json()["code"] == "import_invalid_file"


def test_export_is_masked_scoped_and_audited(town, client_for):
    r = client_for(town.users["rc_staff"]).get("/people/export.xlsx")
    assert r.status_code == 200
    rows = CalamineWorkbook.from_filelike(io.BytesIO(r.content)).get_sheet_by_index(0).to_python()
    flat = str(rows)
    p1, p2 = town.people["p1"], town.people["p2"]
    assert "王小明" in flat and "李小红" not in flat
    assert p1.id_number not in flat and "13800000001" not in flat and "测试路1号3室" not in flat
    assert p1.id_number[:3] + "*" * 11 + p1.id_number[-4:] in flat
    assert AuditRecord.objects.filter(action="person.export", actor_username="T1-rc_staff").exists()
    assert p2  # p2 is in the other committee


def test_export_without_capability_is_403(town, client_for):
    assert client_for(town.users["grid_worker"]).get("/api/v1/people/export.xlsx").status_code == 403
