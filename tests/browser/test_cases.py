"""一网统管 in a real browser: the grid worker's phone report (online and offline), the case's whole life from
the dispatcher's console through the department and back, bulk dispatch, the residents' page, the evaluation.

Screenshots land in artefacts/screenshots/cases-*.png for a human to look at.
"""

from __future__ import annotations

import re
import time

import pytest

from jiedao.cases.categories import categories_load
from jiedao.cases.models import Case, CaseCategory
from jiedao.cases.services import case_transition
from jiedao.cases.services.intake import Intake, case_report

from .conftest import DESKTOP, PHONE

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

expect = pytest.importorskip("playwright.sync_api", reason="Browser tests need the playwright package").expect

# Inside grid T1-1 (121.50–121.51, 31.33–31.34), which is assigned to the town's grid worker.
IN_GRID_1 = {"latitude": 31.335, "longitude": 121.505}
# The fetches that fail on purpose while the phone is offline (or its answer is lost) are logged by Chromium.
DESCRIPTION_WITH_LINK = "楼下垃圾好几天没人清运了，群里的照片：https://example.com/" + "photo-abcdefghij" * 6
_OFFLINE_NOISE = r"net::ERR_(INTERNET_DISCONNECTED|FAILED).*/api/v1/cases"


@pytest.fixture
def cases_town(town, settings, tmp_path):
    """The browser town with the national case categories; photos go to a temporary media root."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    categories_load(actor=None, subdistrict=town.sub, departments={"城管中队": town.units["dept"]},
                    urgent_hours=4, normal_days=3)
    town.category = CaseCategory.objects.get(subdistrict=town.sub, kind="event", code="06010")  # 暴露垃圾
    return town


def _jpeg(tmp_path, name: str = "photo.jpg", colour=(180, 120, 60)) -> str:
    from PIL import Image

    path = tmp_path / name
    Image.new("RGB", (96, 64), colour).save(path, "JPEG", quality=80)
    return str(path)


def _report(town, *, category=None, lat=IN_GRID_1["latitude"], lng=IN_GRID_1["longitude"],
            description="小区门口暴露垃圾堆放", source="resident", actor=None) -> Case:
    return case_report(actor=actor, subdistrict_id=town.sub.pk, intake=Intake(
        source=source, description=description, category=category, lat=lat, lng=lng, reporter_name="张先生"))


def _pick_category(page, search: str, name: str) -> None:
    """Type into the category search box; only matching options stay visible; pick ``name``."""
    page.fill("[data-testid=category-search]", search)
    select = page.locator("[data-testid=category-select]")
    shown = select.locator("option:not([hidden])").all_inner_texts()
    assert shown and all(search in text for text in shown), shown
    assert len(shown) < select.locator("option").count(), "the search did not narrow the list"
    value = select.locator("option:not([hidden])", has_text=name).first.get_attribute("value")
    select.select_option(value)
    # the choice in full under the list, which a phone cuts off at its right edge
    expect(page.locator("[data-testid=category-chosen]")).to_contain_text("已选：" + name)


# Pixels of a colour on a Leaflet canvas (the case markers: #f76707 open, #d63939 overdue).
_PIXELS = """([selector, r, g, b]) => {
  let n = 0;
  for (const canvas of document.querySelectorAll(selector + ' canvas')) {
    if (!canvas.width) { continue; }
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && Math.abs(data[i] - r) < 20 && Math.abs(data[i + 1] - g) < 20 && Math.abs(data[i + 2] - b) < 20) { n++; }
    }
  }
  return n;
}"""


def _wait_for_case_markers(page) -> None:
    """The console's map has drawn our case markers (the canvas paints on the next animation frame)."""
    page.wait_for_function(f"() => ({_PIXELS})(['#case-map', 0xf7, 0x67, 0x07]) > 40")


def _wait_for_map_to_settle(page, selector: str) -> None:
    page.wait_for_function(f"() => !document.querySelector('{selector}').classList.contains('leaflet-zoom-anim')")
    page.wait_for_timeout(300)  # Leaflet's zoom animation lasts 250 ms


def _outbox(page, db: str = "jiedao-outbox-forms", store: str = "forms") -> int:
    """Forms waiting in the phone's IndexedDB outbox (web/outbox.js; ``jiedao-outbox``/``reports`` was the
    earlier, report-only one)."""
    return page.evaluate("""([db, store]) => new Promise((resolve, reject) => {
      const req = indexedDB.open(db, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(store, {keyPath: 'key'});
      req.onsuccess = () => { const c = req.result.transaction(store).objectStore(store).count();
                              c.onsuccess = () => resolve(c.result); c.onerror = () => reject(c.error); };
      req.onerror = () => reject(req.error);
    })""", [db, store])


def _act(page, action: str, *, comment: str = "", photo: str | None = None) -> None:
    """Submit one action form of the case page and wait for the page it leads to."""
    form = page.locator(f"form.case-action[data-action={action}]")
    if comment:
        form.locator("[name=comment]").fill(comment)
    if photo:
        form.locator("input[type=file]").set_input_files(photo)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def _success(page, text: str) -> None:
    expect(page.locator(".alert-success").first).to_have_text(text)


def test_grid_worker_reports_from_the_phone(cases_town, open_session, tmp_path):
    town = cases_town
    s = open_session(PHONE, mobile=True)
    s.context.grant_permissions(["geolocation"], origin=s.base_url)
    s.context.set_geolocation(IN_GRID_1)
    s.login(town.users["grid_worker"])
    page = s.page
    s.goto("/cases/field/report/")
    page.wait_for_selector("#pick-map[data-loaded]")

    # Nothing is queued while the category, the description or the place is missing, or with more than six photos
    # (a report without a category once went out with the first one of the list).
    page.click("[data-testid=report-submit]")
    expect(page.locator("[data-testid=report-status]")).to_have_text("请选择问题类别。")
    page.fill("[data-testid=category-search]", "没有这种问题")
    expect(page.locator(".js-filter-empty")).to_contain_text("没有匹配“没有这种问题”的类别")
    page.fill("[data-testid=category-search]", "")
    expect(page.locator(".js-filter-empty")).to_be_hidden()
    assert page.eval_on_selector("[data-testid=category-select]", "s => s.selectedIndex") == -1, \
        "emptying the search picks no category by itself"
    _pick_category(page, "垃圾", "暴露垃圾")
    page.click("[data-testid=report-submit]")
    expect(page.locator("[data-testid=report-status]")).to_have_text("请描述问题。")
    page.fill("[data-testid=description]", "人行道上有暴露垃圾，影响通行")
    page.click("[data-testid=report-submit]")
    expect(page.locator("[data-testid=report-status]")).to_have_text("请至少拍一张现场照片。")
    page.set_input_files("[data-testid=photos]", [_jpeg(tmp_path, f"p{i}.jpg") for i in range(7)])
    page.click("[data-testid=report-submit]")
    expect(page.locator("[data-testid=report-status]")).to_have_text("最多上传6张照片。")
    assert _outbox(page) == 0 and not Case.objects.exists()
    page.set_input_files("[data-testid=photos]", _jpeg(tmp_path))
    page.click("[data-testid=report-submit]")
    expect(page.locator("[data-testid=report-status]")).to_have_text("请定位、在地图上点选位置或填写地址。")
    assert _outbox(page) == 0 and not Case.objects.exists()
    page.click("[data-testid=locate]")
    expect(page.locator("[data-testid=locate-status]")).to_contain_text("当前位置")
    expect(page.locator("[data-testid=locate-status]")).to_contain_text(town.grids[0].name)  # in words, not numbers
    assert (page.input_value("#f-lat"), page.input_value("#f-lng")) == ("31.335000", "121.505000")
    _wait_for_map_to_settle(page, "#pick-map")
    s.assert_no_horizontal_overflow()
    s.shot("cases-field-report-phone")

    page.click("[data-testid=report-submit]")
    status = page.locator("[data-testid=report-status]")
    expect(status).to_contain_text("已上报，案件编号")
    number = re.search(r"案件编号 (\d+)", status.inner_text()).group(1)
    case = Case.objects.get(number=number)
    assert Case.objects.count() == 1
    assert (case.category, case.grid, case.source, case.reporter) == (
        town.category, town.grids[0], "grid_worker", town.users["grid_worker"])
    assert case.photos.filter(stage="report").count() == 1
    assert case.description == "人行道上有暴露垃圾，影响通行"
    assert page.input_value("[data-testid=description]") == "", "the form is cleared for the next report"
    assert _outbox(page) == 0
    names = page.evaluate("() => indexedDB.databases().then((dbs) => dbs.map((d) => d.name))")
    assert "jiedao-outbox" not in names, "looking for the old outbox does not create it"
    s.assert_no_horizontal_overflow()

    s.goto("/cases/field/")
    expect(page.locator("[data-testid=my-reports]")).to_contain_text(number)
    s.problems.assert_none()


def test_offline_report_is_queued_and_sent_once(cases_town, open_session, tmp_path):
    town = cases_town
    s = open_session(PHONE, mobile=True)
    s.login(town.users["grid_worker"])
    page = s.page
    s.goto("/cases/field/report/")
    page.wait_for_selector("#pick-map[data-loaded]")
    _pick_category(page, "垃圾", "暴露垃圾")
    page.fill("[data-testid=description]", "地下室无信号处发现暴露垃圾")
    page.set_input_files("[data-testid=photos]", _jpeg(tmp_path))
    # A tap on the map in the left grid.
    page.locator("#pick-map").click(position={"x": 100, "y": 110})
    expect(page.locator("[data-testid=locate-status]")).to_contain_text("已选位置")
    lat, lng = float(page.input_value("#f-lat")), float(page.input_value("#f-lng"))
    assert 31.33 < lat < 31.34 and 121.50 < lng < 121.51, (lat, lng)

    s.context.set_offline(True)
    page.click("[data-testid=report-submit]")
    status = page.locator("[data-testid=report-status]")
    expect(status).to_contain_text("网络不可用，已保存在手机上")
    assert _outbox(page) == 1
    assert not Case.objects.exists()

    # The signal is back, but the answer to the first try is lost on its way to the phone: the server made the
    # case and the phone does not know. The retry carries the same Idempotency-Key and gets the same case.
    tries = []

    def lose_first_answer(route):
        tries.append(route.request.headers.get("idempotency-key"))
        if len(tries) == 1:
            route.fetch()
            route.abort()
        else:
            route.continue_()

    page.route("**/api/v1/cases", lose_first_answer)
    s.context.set_offline(False)
    page.evaluate("() => { window.dispatchEvent(new Event('online')); window.dispatchEvent(new Event('online')); }")
    expect(status).to_contain_text("已上报，案件编号")
    number = re.search(r"案件编号 (\d+)", status.inner_text()).group(1)
    assert len(tries) >= 2 and len(set(tries)) == 1, tries
    assert _outbox(page) == 0

    # Yet another flush finds nothing to send.
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.wait_for_timeout(300)
    case = Case.objects.get()
    assert case.number == number
    assert case.grid == town.grids[0] and abs(case.lat - lat) < 1e-5 and abs(case.lng - lng) < 1e-5
    assert case.photos.count() == 1, "the photo survived in the outbox"
    s.problems.forgive(_OFFLINE_NOISE)
    s.problems.assert_none()


def test_reports_left_in_the_earlier_outbox_are_sent_by_the_one_outbox(cases_town, open_session):
    """A phone that queued a report with the earlier, report-only outbox (IndexedDB ``jiedao-outbox``) sends it,
    photo included, once it opens a page of the one outbox; the old database is deleted."""
    s = open_session(PHONE, mobile=True)
    s.login(cases_town.users["grid_worker"])
    page = s.page
    s.goto("/accounts/login/")  # any page of ours: the queue is per origin
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (90, 140, 60)).save(buf, "JPEG")
    page.evaluate("""([cat, jpeg]) => new Promise((resolve, reject) => {
      const req = indexedDB.open('jiedao-outbox', 1);
      req.onupgradeneeded = () => req.result.createObjectStore('reports', {keyPath: 'key'});
      req.onsuccess = () => {
        const t = req.result.transaction('reports', 'readwrite');
        const photo = new Blob([Uint8Array.from(atob(jpeg), (c) => c.charCodeAt(0))], {type: 'image/jpeg'});
        t.objectStore('reports').put({key: 'legacy-1', created: Date.now(), photos: [{name: 'a.jpg', blob: photo}],
          fields: [['description', '旧版离线队列里的上报'], ['category_id', String(cat)], ['lat', '31.335'], ['lng', '121.505']]});
        t.oncomplete = () => { req.result.close(); resolve(); }; t.onerror = () => reject(t.error);
      };
      req.onerror = () => reject(req.error);
    })""", [cases_town.category.pk, base64.b64encode(buf.getvalue()).decode()])
    s.goto("/cases/field/")
    expect(page.locator("[data-testid=outbox-status]")).to_contain_text("案件编号")
    case = Case.objects.get(description="旧版离线队列里的上报")
    assert (case.category, case.grid, case.reporter) == (cases_town.category, cases_town.grids[0],
                                                         cases_town.users["grid_worker"])
    assert case.photos.count() == 1
    assert _outbox(page) == 0
    names = page.evaluate("() => indexedDB.databases().then((dbs) => dbs.map((d) => d.name))")
    assert "jiedao-outbox" not in names, "the emptied old outbox is deleted, not kept or re-created"
    s.problems.assert_none()


def test_a_case_from_report_to_close(cases_town, open_session, tmp_path):
    town = cases_town
    case = _report(town)  # a resident's report, not yet classified
    number = case.number

    # The dispatcher finds it on the console and its map, registers it with a category and dispatches it.
    d = open_session(DESKTOP)
    d.login(town.users["dispatcher"])
    page = d.page
    d.goto("/cases/")
    page.wait_for_selector("#case-map[data-loaded='1']")
    _wait_for_case_markers(page)
    row = page.locator("[data-testid=case-table] tbody tr", has_text=number)
    expect(row).to_contain_text("待立案")
    d.shot("cases-console")
    with page.expect_navigation():
        row.get_by_role("link", name=number).click()
    register = page.locator("form.case-action[data-action=register]")
    register.locator(".js-filter-select").fill("暴露垃圾")
    register.locator("select[name=category_id]").select_option(str(town.category.pk))
    _act(page, "register")
    _success(page, "已立案。")
    page.locator("form.case-action[data-action=dispatch] select[name=lead_department_id]").select_option(
        label="城管中队")
    _act(page, "dispatch")
    _success(page, "已派遣。")
    d.problems.assert_none()

    # The department accepts it and reports what it did, with a photo.
    h = open_session(DESKTOP)
    h.login(town.users["department_handler"])
    page = h.page
    h.goto("/cases/inbox/")
    expect(page.locator("[data-testid=inbox-tabs] .nav-link.active")).to_contain_text("待签收")
    row = page.locator("[data-testid=inbox-table] tbody tr", has_text=number)
    expect(row).to_contain_text("待签收")
    h.shot("cases-inbox")
    with page.expect_navigation():
        row.get_by_role("link", name=number).click()
    _act(page, "accept")
    _success(page, "已签收。")
    _act(page, "feedback", comment="已清运垃圾并冲洗地面", photo=_jpeg(tmp_path, "after.jpg", (60, 160, 90)))
    _success(page, "已反馈处置结果。")
    h.problems.assert_none()

    # The grid worker checks on the spot, from the phone.
    g = open_session(PHONE, mobile=True)
    g.login(town.users["grid_worker"])
    page = g.page
    g.goto("/cases/field/")
    item = page.locator("[data-testid=to-verify] a", has_text=number)
    expect(item).to_be_visible()
    g.assert_no_horizontal_overflow()
    g.shot("cases-field-home-phone")
    with page.expect_navigation():
        item.click()
    expect(page.locator("[data-testid=case-photos] img")).to_have_count(1)  # the department's feedback photo
    g.assert_no_horizontal_overflow()
    g.shot("cases-detail-phone")
    _act(page, "verify", photo=_jpeg(tmp_path, "check.jpg", (90, 90, 200)))
    _success(page, "已核查通过。")
    expect(page.locator("h2 .badge").first).to_have_text("待结案")
    with page.expect_navigation():  # 返回 still leads back to the phone's list
        page.get_by_role("link", name="返回").click()
    assert page.url == f"{g.base_url}/cases/field/"
    expect(page.locator("[data-testid=to-verify]")).not_to_contain_text(number)
    g.problems.assert_none()

    # The dispatcher closes it.
    page = d.page
    d.goto(f"/cases/{case.pk}/")
    _act(page, "close")
    _success(page, "已结案。")
    assert page.locator("h2 .badge").first.inner_text().strip() == "已结案"
    actions = page.locator("form.case-action").evaluate_all("forms => forms.map(f => f.dataset.action)")
    assert actions == ["follow_up"], actions  # 回访 is all that is left
    timeline = page.locator("[data-testid=timeline] li").all_inner_texts()
    steps = ["上报", "立案", "派遣", "签收", "反馈处置结果", "核查通过", "结案"]
    assert len(timeline) == len(steps), timeline
    for line, step in zip(timeline, steps, strict=True):
        assert step in line, (step, line)
    assert "已清运垃圾并冲洗地面" in timeline[4] and "城管中队" in timeline[4]
    expect(page.locator("[data-testid=case-photos] img")).to_have_count(2)
    d.shot("cases-detail")
    d.problems.assert_none()

    case.refresh_from_db()
    assert (case.state, case.category, case.lead_department) == ("closed", town.category, town.units["dept"])
    assert list(case.events.order_by("created_at", "pk").values_list("action", flat=True)) == [
        "report", "register", "dispatch", "accept", "feedback", "verify", "close"]
    assert sorted(case.photos.values_list("stage", flat=True)) == ["feedback", "verify"]


def test_bulk_dispatch_from_the_console(cases_town, open_session):
    town = cases_town
    first = _report(town, category=town.category)
    second = _report(town, category=town.category, lat=31.336, lng=121.515, description="路边垃圾桶满溢")
    left_alone = _report(town, category=town.category, lat=31.332, lng=121.502, description="绿化带里有垃圾")

    s = open_session(DESKTOP)
    s.login(town.users["dispatcher"])
    page = s.page
    s.goto("/cases/")
    page.wait_for_selector("#case-map[data-loaded='3']")
    _wait_for_case_markers(page)
    for case in (first, second):
        page.check(f"[data-testid=case-table] input[name=case][value^='{case.pk}:']")
    form = page.locator("[data-testid=bulk-dispatch]")
    form.locator("select[name=lead_department_id]").select_option(label="城管中队")
    with page.expect_navigation():
        form.get_by_role("button", name="批量派遣").click()
    _success(page, "已派遣 2 件。")
    for case in (first, second):
        expect(page.locator("[data-testid=case-table] tbody tr", has_text=case.number)).to_contain_text("待签收")
    s.problems.assert_none()

    for case in (first, second):
        case.refresh_from_db()
        assert (case.state, case.lead_department) == ("dispatched", town.units["dept"])
        assert case.assignments.get().department == town.units["dept"]
    left_alone.refresh_from_db()
    assert left_alone.state == "reported"


def test_dispatcher_imports_12345_orders(cases_town, open_session, tmp_path):
    """From the console to the import page: a sheet with a bad order imports nothing and says which row; the
    same sheet with "only the good orders" makes their cases."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["工单编号", "受理时间", "来电人", "来电号码", "诉求内容", "事发地址", "问题分类编码", "办结时限"])
    ws.append(["SH001", "2026-11-26 09:30:00", "张先生", "13900001111", "政立路人行道有暴露垃圾", "政立路100号",
               "06010", "2026-12-01 17:00:00"])
    ws.append(["SH002", "昨天", "李女士", "", "路灯不亮", "殷行路", "01037", ""])
    path = tmp_path / "12345.xlsx"
    wb.save(path)

    s = open_session(DESKTOP)
    s.login(cases_town.users["dispatcher"])
    page = s.page
    s.goto("/cases/")
    with page.expect_navigation():
        page.click("[data-testid=hotline-import-link]")
    page.set_input_files("#id_file", str(path))
    with page.expect_navigation():
        page.get_by_role("button", name="上传并导入").click()
    report = page.locator("[data-testid=import-report]")
    expect(report).to_contain_text("本次未导入任何工单")
    expect(page.locator("[data-testid=import-errors] tbody tr")).to_contain_text(["3"])
    assert not Case.objects.filter(source="hotline").exists()
    page.set_input_files("#id_file", str(path))
    page.check("input[name=commit_valid_rows]")
    with page.expect_navigation():
        page.get_by_role("button", name="上传并导入").click()
    expect(report).to_contain_text("已生成案件 1 件")
    case = Case.objects.get(source="hotline", external_id="SH001")
    expect(page.locator("[data-testid=import-created]")).to_contain_text(case.number)
    assert "13900001111" not in page.content()
    s.shot("cases-hotline-import")
    s.problems.assert_none()


def test_dispatcher_follows_and_resolves_an_overdue_alert(cases_town, open_session):
    """/alerts/: the overdue case's alert opens the case; 解除 asks first, and does nothing when declined."""
    import datetime as dt

    from django.utils import timezone

    from jiedao.cases.tasks import check_deadlines
    from jiedao.kernel.models import Alert

    town = cases_town
    case = _report(town, category=town.category)
    Case.objects.filter(pk=case.pk).update(deadline_at=timezone.now() - dt.timedelta(hours=2))
    check_deadlines(escalate_limit=0)
    s = open_session(DESKTOP)
    s.login(town.users["dispatcher"])
    page = s.page
    s.goto("/alerts/")
    row = page.locator("tr", has_text=case.number)
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="解除").click()
    assert Alert.objects.get(subject_id=str(case.pk), rule="case.overdue").state != "resolved"
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        row.get_by_role("button", name="解除").click()
    _success(page, "已解除预警。")
    assert Alert.objects.get(subject_id=str(case.pk), rule="case.overdue").state == "resolved"
    s.goto("/alerts/")
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile(case.number)).click()
    assert page.url.endswith(f"/cases/{case.pk}/")
    s.problems.assert_none()


def test_resident_reports_without_signing_in(cases_town, open_session, tmp_path):
    town = cases_town
    s = open_session(PHONE, mobile=True)
    s.context.grant_permissions(["geolocation"], origin=s.base_url)
    s.context.set_geolocation(IN_GRID_1)
    page = s.page
    s.goto("/report/")
    shown_at = time.monotonic()
    _pick_category(page, "垃圾", "暴露垃圾")
    # A pasted link is one long word: it must wrap, not widen the phone's page.
    page.fill("[data-testid=description]", DESCRIPTION_WITH_LINK)
    page.set_input_files("[data-testid=photos]", _jpeg(tmp_path))
    page.click("[data-testid=locate]")
    expect(page.locator("[data-testid=locate-status]")).to_contain_text("当前位置")
    page.fill("#f-name", "李阿姨")
    page.fill("#f-phone", "13912345678")
    s.assert_no_horizontal_overflow()
    s.shot("cases-public-report-phone")
    # The server refuses forms filled in under 3 seconds (a bot's speed).
    page.wait_for_timeout(max(0, int((3.3 - (time.monotonic() - shown_at)) * 1000)))
    with page.expect_navigation():
        page.locator("[data-testid=public-report] button[type=submit]").click()

    case = Case.objects.get()
    assert page.url == f"{s.base_url}/report/{case.public_token}/"
    box = page.locator("[data-testid=public-status]")
    expect(box).to_contain_text(f"编号 {case.number}")
    expect(box).to_contain_text("待立案")
    expect(box.locator("img")).to_have_count(1)
    expect(box).to_contain_text(DESCRIPTION_WITH_LINK)
    expect(page.locator("[data-testid=public-timeline]")).to_contain_text("等待受理")
    assert (case.source, case.category, case.grid, case.reporter) == ("resident", town.category, town.grids[0], None)
    assert case.reporter_name == "李阿姨" and case.reporter_phone == "13912345678"
    assert "13912345678" not in page.content(), "the status page does not show the phone number"
    s.assert_no_horizontal_overflow()
    s.shot("cases-public-status-phone")
    s.problems.assert_none()


def test_a_resident_without_a_link_picks_the_sub_district_first(cases_town, other_town, open_session):
    """With several sub-districts /report/ lists them; the resident's choice opens that sub-district's form."""
    s = open_session(PHONE, mobile=True)
    page = s.page
    s.goto("/report/")
    choices = page.locator("[data-testid=public-choose] a")
    expect(choices).to_have_count(2)
    s.assert_no_horizontal_overflow()
    s.shot("cases-public-choose-phone")
    with page.expect_navigation():
        choices.filter(has_text=cases_town.sub.name).click()
    assert page.url == f"{s.base_url}/report/?sd={cases_town.sub.code}"
    expect(page.locator("[data-testid=public-report]")).to_be_visible()
    expect(page.locator("[data-testid=category-select] option", has_text="暴露垃圾")).to_have_count(1)
    s.problems.assert_none()


def test_evaluation_draws_the_chart(cases_town, open_session):
    town = cases_town
    dispatcher, handler = town.users["dispatcher"], town.users["department_handler"]
    co = town.users["dept2_handler"]
    for i in range(2):
        case = _report(town, category=town.category, lat=31.331 + i * 0.004)
        dispatch = {"lead_department_id": town.units["dept"].pk}
        steps = [(dispatcher, "register", {}), (dispatcher, "dispatch", dispatch),
                 (handler, "accept", {}), (handler, "feedback", {"comment": "已处置"})]
        if i == 0:  # handled jointly: 市场监管所 co-handles, accepts and gives its own feedback
            dispatch["co_department_ids"] = [town.units["dept2"].pk]
            steps[3:3] = [(co, "accept", {}), (co, "feedback", {"comment": "已配合处置"})]
            steps += [(town.users["grid_worker"], "verify", {}), (dispatcher, "close", {})]
        for actor, action, data in steps:
            case = case_transition(actor=actor, case=case, action=action, expected_version=case.version, **data)

    s = open_session(DESKTOP)
    s.login(town.users["leader"])
    page = s.page
    s.goto("/cases/evaluation/")
    page.wait_for_selector("#eval-chart[data-loaded='1'][data-rendered='1']")
    assert page.locator("#eval-chart canvas").count() >= 1
    row = page.locator("[data-testid=evaluation-table] tbody tr", has_text="城管中队")
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    # 上报 and 立案 are not counted per department; 派遣, 其中协办, 结案, 按期结案率 are.
    assert cells[:7] == ["城管中队", "—", "—", "2", "0", "1", "100.0%"], cells
    co_row = page.locator("[data-testid=evaluation-table] tbody tr", has_text="市场监管所")
    assert [c.strip() for c in co_row.locator("td").all_inner_texts()][:7] == [
        "市场监管所", "—", "—", "1", "1", "1", "100.0%"]
    s.shot("cases-evaluation")
    s.problems.assert_none()
