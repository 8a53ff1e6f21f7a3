"""The residents'-committee journey in a real browser, the audit trail it leaves, and the screens around it.

Screenshots land in artefacts/screenshots/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import re

import pytest

import conftest as root  # the repository's root conftest
from jiedao.kernel.models import AuditRecord, Membership
from jiedao.kernel.scoping import scope_changed
from jiedao.people.models import Person
from jiedao.people.services import person_create

from .conftest import DESKTOP, PHONE

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

REVEAL_REASON = "核实返沪人员身份"

# Pixels of the Leaflet canvas in the grids' stroke colour (#206bc4) and fill colour (#e7f1fb).
_GRID_PIXELS = """() => {
  const canvas = document.querySelector('#map .leaflet-overlay-pane canvas');
  if (!canvas || !canvas.width) { return {stroke: 0, fill: 0, total: 0}; }
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const near = (i, r, g, b) => Math.abs(data[i] - r) < 24 && Math.abs(data[i + 1] - g) < 24 && Math.abs(data[i + 2] - b) < 24;
  let stroke = 0, fill = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 100 && near(i, 0x20, 0x6b, 0xc4)) { stroke++; }
    else if (data[i + 3] > 60 && near(i, 0xe7, 0xf1, 0xfb)) { fill++; }
  }
  return {stroke: stroke, fill: fill, total: canvas.width * canvas.height};
}"""


def _assert_styles_loaded(page) -> None:
    """Tabler's stylesheet is served and applied (its CSS variables exist, the CJK font stack is ours)."""
    primary = page.evaluate("() => getComputedStyle(document.documentElement).getPropertyValue('--tblr-primary')")
    assert primary.strip(), "Tabler CSS did not load"
    font = page.evaluate("() => getComputedStyle(document.body).fontFamily")
    assert "Noto Sans CJK SC" in font, font


def _assert_cjk_renders(page) -> None:
    """Chinese is drawn with real glyphs: two different characters rasterise differently (tofu boxes would not)."""
    distinct = page.evaluate("""() => {
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = 40;
      const ctx = canvas.getContext('2d');
      ctx.font = '32px ' + getComputedStyle(document.body).fontFamily;
      const draw = (ch) => { ctx.clearRect(0, 0, 40, 40); ctx.fillText(ch, 2, 34);
                             return Array.from(ctx.getImageData(0, 0, 40, 40).data).join(); };
      const a = draw('街'), b = draw('道'), c = draw('\\u{10FFFD}');
      return a !== b && a !== c && b !== c;
    }""")
    assert distinct, "Chinese characters render as boxes: is fonts-noto-cjk installed?"


def _wait_for_map(page) -> dict:
    page.wait_for_selector("#map[data-loaded='1']")
    assert page.evaluate("() => typeof window.L === 'object' && !!window.L.map"), "Leaflet did not load"
    position = page.evaluate("() => getComputedStyle(document.querySelector('#map .leaflet-pane')).position")
    assert position == "absolute", "leaflet.css did not load"
    labels = page.locator("#map .leaflet-control-layers-overlays label").all_text_contents()
    assert [label.strip() for label in labels] == ["网格", "小区", "楼宇", "道路", "河道"]
    # The canvas renderer paints on the next animation frame: wait for the grids' colours to appear.
    page.wait_for_function(f"() => {{ const p = ({_GRID_PIXELS})(); return p.stroke > 100 && p.fill > 0.05 * p.total; }}")
    return page.evaluate(_GRID_PIXELS)


def test_wrong_password_shows_the_chinese_error(town, open_session):
    s = open_session()
    s.goto("/accounts/login/")
    _assert_styles_loaded(s.page)
    _assert_cjk_renders(s.page)
    s.shot("login")
    s.page.fill("#id_username", town.users["rc_staff"].username)
    s.page.fill("#id_password", "wrong-password")
    with s.page.expect_navigation() as nav:
        s.page.click("button[type=submit]")
    assert nav.value.status == 401
    error = s.page.locator("[data-testid=login-error]")
    assert error.inner_text().strip() == "用户名或密码错误。"
    assert s.page.input_value("#id_username") == town.users["rc_staff"].username
    assert s.page.input_value("#id_password") == ""
    s.shot("login-error")
    assert AuditRecord.objects.filter(action="auth.login_failed").count() == 1
    # The failed login answers 401 on purpose; Chromium logs every non-2xx document as a console error.
    s.problems.forgive(r"status of 401 .*/accounts/login/")
    s.problems.assert_none()


def test_rc_staff_finds_and_reveals_a_person_and_the_auditor_sees_it(town, open_session):
    rc = town.users["rc_staff"]
    p1 = town.people["p1"]
    # A second person in rc1's scope, so the search visibly narrows the list.
    person_create(actor=rc, subdistrict=town.sub, name="张建国", id_number=root.make_id(77),
                  phone="13800000077", address="测试路1号8室", compound=town.compounds["c1"])

    s = open_session(DESKTOP)
    s.login(rc)
    page = s.page
    _assert_styles_loaded(page)
    _assert_cjk_renders(page)

    # Home: the map with our GeoJSON grids drawn on Leaflet's canvas.
    pixels = _wait_for_map(page)
    assert pixels["stroke"] > 100 and pixels["fill"] > 0.05 * pixels["total"], pixels
    s.shot("home-map", full_page=False)

    # 人口: both in-scope people, then exactly the one whose full ID number we search.
    page.get_by_role("link", name="人口", exact=True).click()
    page.wait_for_url(re.compile(r"/people/$"))
    rows = page.locator("[data-testid=people-table] tbody tr")
    assert rows.count() == 2
    assert "李小红" not in page.content()  # rc2's person is out of scope
    page.fill("[data-testid=people-search]", p1.id_number)
    with page.expect_navigation():
        page.press("[data-testid=people-search]", "Enter")
    assert rows.count() == 1
    assert rows.first.locator("td").first.inner_text().strip() == "王小明"
    table_text = page.locator("[data-testid=people-table]").inner_text()
    assert p1.id_number not in table_text and p1.id_number[:3] in table_text, "the list shows the ID number masked"
    s.shot("people-list")

    # The person: masked first, then the full number after giving a reason (htmx).
    with page.expect_navigation():
        rows.first.get_by_role("link", name="王小明").click()
    assert page.locator("h2").first.inner_text().strip() == "王小明"
    masked = page.locator("[data-testid=id-number]").inner_text().strip()
    assert masked != p1.id_number and masked[:3] == p1.id_number[:3] and "*" in masked
    form = page.locator("[data-testid=reveal-form]")
    form.locator("select[name=field]").select_option("id_number")
    form.locator("input[name=reason]").fill(REVEAL_REASON)
    with page.expect_response(lambda r: r.url.endswith(f"/people/{p1.pk}/reveal/")) as resp:
        form.get_by_role("button").click()
    assert resp.value.status == 200
    value = page.locator("[data-testid=reveal-value]")
    value.wait_for()
    assert value.inner_text().strip() == p1.id_number
    s.shot("person-detail")
    s.problems.assert_none()

    record = AuditRecord.objects.get(action="person.reveal")
    assert (record.actor_username, record.reason, record.object_id) == (rc.username, REVEAL_REASON, str(p1.pk))

    # The audit admin, in a fresh browser context, sees the reveal and its reason — not the number.
    a = open_session(DESKTOP)
    a.login(town.users["audit_admin"])
    a.goto("/audit/")
    table = a.page.locator("[data-testid=audit-table]")
    reveal_row = table.locator("tbody tr", has=a.page.locator("code", has_text="person.reveal"))
    assert reveal_row.count() == 1
    cells = reveal_row.locator("td").all_inner_texts()
    assert rc.username in cells and REVEAL_REASON in cells
    assert any("id_number" in c for c in cells)
    assert p1.id_number not in a.page.content(), "the audit log must not show the revealed value"
    a.shot("audit-log")
    a.problems.assert_none()


def test_screens_fit_a_phone(town, open_session):
    p1 = town.people["p1"]
    s = open_session(PHONE, mobile=True)
    s.login(town.users["rc_staff"])
    page = s.page
    assert page.evaluate("() => window.innerWidth") == PHONE["width"]
    _assert_cjk_renders(page)

    pixels = _wait_for_map(page)
    assert pixels["stroke"] > 100, pixels
    box = page.locator("#map").bounding_box()
    assert box["width"] <= PHONE["width"] and box["height"] >= 300, box
    s.assert_no_horizontal_overflow()
    s.shot("home-map-phone", full_page=False)

    s.goto("/people/")
    assert page.locator("[data-testid=people-table] tbody tr").count() == 1
    s.assert_no_horizontal_overflow()
    s.shot("people-list-phone")

    s.goto(f"/people/{p1.pk}/")
    form = page.locator("[data-testid=reveal-form]")
    form.locator("select[name=field]").select_option("address")
    form.locator("input[name=reason]").fill(REVEAL_REASON)
    form.get_by_role("button").click()
    assert page.locator("[data-testid=reveal-value]").inner_text().strip() == p1.address
    s.assert_no_horizontal_overflow()
    s.shot("person-detail-phone")

    s.goto("/people/import/")
    s.assert_no_horizontal_overflow()
    s.problems.assert_none()


def test_broken_import_shows_the_per_row_report(town, open_session, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    good_id = root.make_id(88)
    bad_id = root.make_id(89)
    bad_id = bad_id[:17] + ("0" if bad_id[17] != "0" else "1")  # wrong check character
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["姓名", "身份证号", "手机号", "小区", "详细地址", "人口类型", "登记日期", "备注"])
    ws.append(["赵一", good_id, "13800000088", town.compounds["c1"].name, "测试路1号9室", "常住人口", "2020-03-01", ""])
    ws.append(["钱二", bad_id, "13800000089", town.compounds["c1"].name, "测试路1号10室", "户籍人口", "2020-03-02", "校验位错"])
    upload = tmp_path / "人员.xlsx"
    wb.save(upload)
    before = Person.objects.count()

    s = open_session(DESKTOP)
    s.login(town.users["rc_staff"])
    s.goto("/people/")
    with s.page.expect_navigation():
        s.page.get_by_role("link", name="导入", exact=True).click()
    s.page.set_input_files("#id_file", str(upload))
    with s.page.expect_navigation():
        s.page.locator("[data-testid=import-form] button").click()
    report = s.page.locator("[data-testid=import-report]")
    assert "共 2 行，其中 1 行有误，本次未导入任何数据。" in report.inner_text()
    cells = report.locator("table tbody tr").first.locator("td").all_inner_texts()
    assert [c.strip() for c in cells] == ["3", "身份证号", "身份证号校验位错误。"]
    assert report.locator("table tbody tr").count() == 1
    assert Person.objects.count() == before  # all or nothing
    s.shot("import-report")
    s.problems.assert_none()


def test_csp_blocks_inline_script_and_our_pages_raise_no_violations(town, open_session):
    """Our pages load under the CSP without a console error; the detector itself is proven to work."""
    s = open_session(DESKTOP)
    response = s.goto("/accounts/login/")
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    s.login(town.users["rc_staff"])
    _wait_for_map(s.page)
    for path in ("/people/", f"/people/?q={town.people['p1'].id_number}", f"/people/{town.people['p1'].pk}/",
                 "/people/import/", "/people/new/", "/alerts/"):
        s.goto(path)
    # The language switch submits through app.js (no inline handler).
    with s.page.expect_navigation():
        s.page.select_option("select[name=language]", "en")
    assert s.page.url.endswith("/alerts/") and s.page.get_attribute("html", "lang") == "en"
    s.problems.assert_none()

    a = open_session(DESKTOP)
    a.login(town.users["audit_admin"])
    a.goto("/audit/")
    a.goto("/audit/?action=auth&outcome=success")
    a.problems.assert_none()

    # Self-check: an injected inline script is refused and reported.
    s.page.evaluate("() => { const el = document.createElement('script'); el.textContent = 'window.__x = 1'; "
                    "document.body.appendChild(el); }")
    s.page.wait_for_timeout(100)
    assert s.page.evaluate("() => window.__x") is None
    assert any("CSP violation" in p for p in s.problems.items), s.problems.items


def test_reveal_errors_are_shown(town, open_session):
    """The htmx reveal shows its 400 fragment and a 404 page's message (htmx does not swap 4xx answers by default)."""
    p1 = town.people["p1"]
    s = open_session(DESKTOP)
    s.login(town.users["rc_staff"])
    s.goto(f"/people/{p1.pk}/")
    form = s.page.locator("[data-testid=reveal-form]")
    form.locator("input[name=reason]").fill("   ")  # passes minlength, blank after the server strips it
    with s.page.expect_response(lambda r: r.url.endswith(f"/people/{p1.pk}/reveal/")) as resp:
        form.get_by_role("button").click()
    assert resp.value.status == 400
    error = s.page.locator("[data-testid=reveal-error]")
    error.wait_for()
    assert error.inner_text().strip() == "请填写查看事由（至少2个字）。"
    assert s.page.locator("[data-testid=reveal-value]").count() == 0

    # Rights withdrawn while the page is open: the fragment says the person is not found (no whole page).
    Membership.objects.filter(user=town.users["rc_staff"]).update(active=False)
    scope_changed(user_ids=[town.users["rc_staff"].pk])  # a bulk update sends no signal: say it, as services do
    form.locator("input[name=reason]").fill(REVEAL_REASON)
    with s.page.expect_response(lambda r: r.url.endswith(f"/people/{p1.pk}/reveal/")) as resp:
        form.get_by_role("button").click()
    assert resp.value.status == 404
    alert = s.page.locator("#reveal-result [role=alert]")
    alert.filter(has_text="对象不存在。").wait_for()
    assert s.page.locator("#reveal-result nav, #reveal-result header").count() == 0
    assert not AuditRecord.objects.filter(action="person.reveal").exists()
    s.problems.forgive(r"status of 40[04] .*/reveal/")
    s.problems.assert_none()
