"""巡查检查 in a real browser: an inspector's patrol on the phone (due list, checklist with a photo and a failed
item that opens a case, GPS track), the same with the signal lost mid-patrol (draft, outbox, one inspection
however often the outbox flushes), and the manager's pages (coverage with the plan calendar, scores, the map of
findings, the record with its case).

Screenshots land in artefacts/screenshots/inspections-*.png for a human to look at.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from jiedao.cases.categories import category_subtree_ensure
from jiedao.cases.models import Case
from jiedao.inspections.models import Inspection, InspectionAnswer, InspectionPhoto
from jiedao.inspections.services.inspect import inspection_submit
from jiedao.inspections.services.plans import plan_create
from jiedao.inspections.services.schedule import occurrence_on
from jiedao.inspections.services.templates import template_create

from .conftest import DESKTOP, PHONE
from .test_cases import _jpeg, _wait_for_map_to_settle

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

expect = pytest.importorskip("playwright.sync_api", reason="Browser tests need the playwright package").expect

# Where the phone says it is: beside the first compound (31.335, 121.505).
ON_PATROL = {"latitude": 31.3352, "longitude": 121.5051}
# The fetches that fail on purpose while the phone is offline (or its answer is lost) are logged by Chromium.
_OFFLINE_NOISE = r"net::ERR_(INTERNET_DISCONNECTED|FAILED).*/inspections/do/"
# A pasted link is one long word: it must wrap on the phone, not widen the page.
LONG_NOTE = "东侧桶站破损，盖子缺失，群里的照片：https://example.com/" + "photo-abcdefghij" * 6
GOOD = {"accuracy": 55, "bins": "pass", "guard": "yes", "score_env": 35}


@pytest.fixture
def insp_town(town, settings, tmp_path):
    """The browser town with the garbage-sorting checklist (failures open cases) and a weekly plan of the grid
    worker's over both compounds; photos go to a temporary media root."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    leaves = category_subtree_ensure(actor=None, subdistrict=town.sub, source="inspections", kind="event",
                                     major_code="I01", major_name="巡查发现",
                                     leaves=[("I01001", "垃圾分类不达标"), ("I01002", "消防通道堵塞")],
                                     default_department=town.units["dept"], normal_days=2)
    town.finding_category = leaves[0]
    town.sorting = template_create(actor=None, subdistrict=town.sub, code="GS", name="生活垃圾分类检查",
                                   kind="garbage_sorting", target_type="compound", pass_score=80, items=[
        {"code": "accuracy", "text": "分类准确率", "kind": "score", "max_score": 60, "fail_below": 45,
         "case_category": leaves[0]},
        {"code": "bins", "text": "桶站设施完好", "kind": "pass_fail", "case_category": leaves[0]},
        {"code": "guard", "text": "定时定点有人值守", "kind": "choice",
         "choices": [{"value": "yes", "label": "有", "passes": True}, {"value": "no", "label": "无", "passes": False}]},
        {"code": "score_env", "text": "环境整洁", "kind": "score", "max_score": 40},
        {"code": "note", "text": "其他情况", "kind": "text", "required": False},
    ])
    town.inspector = town.users["grid_worker"]
    town.today = timezone.localdate()
    # Started well before last month, so last month's calendar is complete whatever day the suite runs.
    town.plan = plan_create(actor=town.users["dispatcher"], subdistrict=town.sub, name="垃圾分类周检",
                            template_code="GS", inspector=town.inspector, frequency="weekly",
                            start_date=town.today - dt.timedelta(days=70),
                            targets=[("compound", town.compounds["c1"].pk), ("compound", town.compounds["c2"].pk)])
    return town


def _upload(colour=(0, 120, 0)) -> SimpleUploadedFile:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buf, "JPEG")
    return SimpleUploadedFile("p.jpg", buf.getvalue())


def _outbox(page) -> int:
    """Forms waiting in the phone's IndexedDB outbox."""
    return page.evaluate("""() => new Promise((resolve, reject) => {
      const req = indexedDB.open('jiedao-outbox-forms', 1);
      req.onupgradeneeded = () => req.result.createObjectStore('forms', {keyPath: 'key'});
      req.onsuccess = () => { const c = req.result.transaction('forms').objectStore('forms').count();
                              c.onsuccess = () => resolve(c.result); c.onerror = () => reject(c.error); };
      req.onerror = () => reject(req.error);
    })""")


def _item(page, code: str):
    return page.locator(f"[data-testid=inspection-form] .check-item[data-code={code}]")


def _answer(page, code: str, value) -> None:
    """Answer one checklist item the way a thumb does: tap a 合格/不合格 button, type a score, pick an option."""
    item = _item(page, code)
    if value in ("pass", "fail"):
        item.locator(f"label[for=a_{code}_{value[0]}]").click()
        assert item.locator(f"input[type=radio][value={value}]").is_checked()
    elif item.locator("select").count():
        item.locator("select").select_option(str(value))
    elif item.locator("textarea").count():
        item.locator("textarea").fill(str(value))
    else:
        item.locator("input[type=number]").fill(str(value))


def _assert_fits(s) -> None:
    s.assert_no_horizontal_overflow()
    # Nothing is cut off at the right edge either (an element wider than a scroll container hides its end).
    wide = s.page.evaluate("""() => Array.from(document.querySelectorAll('.page-wrapper *'))
      .filter(el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.right > window.innerWidth + 1
                      && !el.closest('.table-responsive, .leaflet-container'); })
      .map(el => el.tagName + '.' + el.className)""")
    assert not wide, f"wider than the phone: {wide}"


def _phone(open_session, town):
    s = open_session(PHONE, mobile=True)
    s.context.grant_permissions(["geolocation"], origin=s.base_url)
    s.context.set_geolocation(ON_PATROL)
    s.login(town.inspector)
    return s


def _open_due(s, target_name: str):
    """Open a target of the due list; the checklist is shown and the GPS track has its first point."""
    page = s.page
    with page.expect_navigation():
        page.locator("[data-testid=due-list] a", has_text=target_name).click()
    expect(page.locator("[data-testid=inspection-form]")).to_be_visible()
    expect(page.locator(".js-track-status")).to_contain_text(re.compile(r"[1-9]\d* 个点"))
    lat, lng, _when = page.input_value("input.js-track").split(";")[0].split(",")
    assert (float(lat), float(lng)) == (ON_PATROL["latitude"], ON_PATROL["longitude"])


def test_a_full_patrol_on_the_phone(insp_town, open_session, tmp_path):
    town = insp_town
    c1, c2 = town.compounds["c1"], town.compounds["c2"]
    s = _phone(open_session, town)
    page = s.page
    s.goto("/inspections/")
    due = page.locator("[data-testid=due-list]")
    expect(due.locator("a")).to_have_count(2)
    expect(due).to_contain_text(c1.name)
    expect(due).to_contain_text(c2.name)
    expect(page.locator("[data-testid=due-count]")).to_have_text("2")
    _assert_fits(s)
    s.shot("inspections-home-phone")

    _open_due(s, c1.name)
    # Nothing answered yet: the phone says what is missing instead of sending.
    page.click("[data-testid=inspection-submit]")
    status = page.locator("[data-testid=outbox-status]")
    expect(status).to_contain_text("请回答：分类准确率")
    expect(_item(page, "accuracy")).to_have_class(re.compile(r"\bis-missing\b"))
    expect(_item(page, "accuracy").locator(".check-hint")).to_be_visible()
    assert _outbox(page) == 0
    page.wait_for_function("""() => { const r = document.querySelector('.check-item.is-missing').getBoundingClientRect();
                                       return r.top >= 0 && r.bottom <= window.innerHeight; }""")
    s.shot("inspections-do-missing-phone", full_page=False)
    # More than the item's full marks is refused on the phone too.
    _answer(page, "accuracy", 75)
    expect(_item(page, "accuracy")).not_to_have_class(re.compile(r"\bis-missing\b"))
    expect(status).to_be_empty()
    page.click("[data-testid=inspection-submit]")
    expect(status).to_contain_text("回答不正确：分类准确率（0–60）")

    _answer(page, "accuracy", 50)
    _answer(page, "bins", "fail")
    _answer(page, "guard", "yes")
    _answer(page, "score_env", 35)
    _answer(page, "note", LONG_NOTE)
    _item(page, "bins").locator("input[type=file]").set_input_files(_jpeg(tmp_path))
    page.fill("#i-notes", "已告知物业")
    _assert_fits(s)
    s.shot("inspections-do-phone")

    page.click("[data-testid=inspection-submit]")
    expect(status).to_contain_text("已提交")
    link = status.get_by_role("link", name="查看记录")
    expect(link).to_have_attribute("href", re.compile(r"^/inspections/\d+/$"))
    assert _outbox(page) == 0
    s.problems.assert_none()

    ins = Inspection.objects.get()
    assert link.get_attribute("href") == f"/inspections/{ins.pk}/"
    assert (ins.plan, ins.period_key) == (town.plan, occurrence_on(town.plan, town.today).key)
    assert (ins.target_type, ins.target_id, ins.inspector) == ("compound", c1.pk, town.inspector)
    assert len(ins.track) >= 1 and abs(ins.track[0][0] - ON_PATROL["latitude"]) < 1e-6, ins.track
    assert (ins.passed, ins.failed_items, ins.score) == (False, 1, 85.0)
    assert ins.notes == "已告知物业"
    photo = InspectionPhoto.objects.get()
    assert (photo.inspection, photo.item.code) == (ins, "bins")
    case = Case.objects.get()
    assert (case.source, case.category, case.external_id) == (
        "inspection", town.finding_category, f"inspection:{ins.pk}:item:bins")
    assert InspectionAnswer.objects.get(inspection=ins, item__code="bins").case == case
    assert InspectionAnswer.objects.get(inspection=ins, item__code="note").text == LONG_NOTE

    # The record, from the status's link.
    with page.expect_navigation():
        link.click()
    expect(page.locator("[data-testid=inspection-result]")).to_have_text("不合格")
    expect(page.locator("[data-testid=answers] tr", has_text="桶站设施完好").locator("[data-testid=answer-case]")) \
        .to_have_text(case.number)
    expect(page.locator("[data-testid=answers] tr", has_text="定时定点有人值守")).to_contain_text("有")
    expect(page.locator("[data-testid=inspection-photos]")).to_contain_text("照片 1 张：桶站设施完好")
    _assert_fits(s)
    s.shot("inspections-detail-phone")

    # Back on the due list the first compound is done, the second still open.
    s.goto("/inspections/")
    done = due.locator("[data-done]", has_text=c1.name)
    expect(done).to_contain_text("已完成")
    assert done.evaluate("el => el.tagName") != "A", "a done target is not offered again"
    expect(due.locator("a", has_text=c2.name)).not_to_contain_text("已完成")
    expect(page.locator("[data-testid=due-count]")).to_have_text("1")
    expect(page.locator("[data-testid=recent]")).to_contain_text(c1.name)
    _assert_fits(s)
    s.shot("inspections-home-done-phone")
    s.problems.assert_none()

    # The second compound is recorded from another device while this phone's form is open: the server refuses
    # the second record of the week, and the answers go back into the form instead of being lost.
    _open_due(s, c2.name)
    _answer(page, "accuracy", 58)
    _answer(page, "bins", "pass")
    _answer(page, "guard", "yes")
    _answer(page, "score_env", 38)
    _submit(town, c2)
    page.click("[data-testid=inspection-submit]")
    expect(status).to_contain_text("未被接受：本周期已检查过该对象")
    expect(status).to_contain_text("已恢复填写的内容")
    assert page.input_value("[name=a_accuracy]") == "58" and page.locator("#a_bins_p").is_checked()
    assert page.input_value("[name=a_guard]") == "yes"
    assert _outbox(page) == 0 and Inspection.objects.filter(target_id=c2.pk).count() == 1
    s.problems.forgive(r"status of 409 .*/inspections/do/")
    s.problems.assert_none()


def test_signal_lost_mid_patrol(insp_town, open_session):
    town = insp_town
    c2 = town.compounds["c2"]
    s = _phone(open_session, town)
    page = s.page
    s.goto("/inspections/")
    _open_due(s, c2.name)

    # Half the checklist, then the page is reloaded (a call came in, the browser was closed…): the draft is back.
    _answer(page, "accuracy", 52)
    _answer(page, "bins", "pass")
    _answer(page, "guard", "no")
    track = page.input_value("input.js-track")
    page.reload()
    expect(page.locator(".js-track-status")).to_contain_text(re.compile(r"[1-9]\d* 个点"))
    assert page.input_value("input.js-track").startswith(track), "the GPS track survives the reload"
    expect(page.locator("[data-testid=outbox-status]")).to_contain_text("已恢复上次未提交的填写内容")
    assert page.input_value("[name=a_accuracy]") == "52"
    assert page.locator("#a_bins_p").is_checked() and not page.locator("#a_bins_f").is_checked()
    assert page.input_value("[name=a_guard]") == "no"
    _answer(page, "score_env", 30)

    # In the basement: no signal. The checklist stays on the phone.
    s.context.set_offline(True)
    page.click("[data-testid=inspection-submit]")
    status = page.locator("[data-testid=outbox-status]")
    expect(status).to_contain_text("已保存在手机上")
    assert _outbox(page) == 1
    assert not Inspection.objects.exists()
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('insp-')).length") == 0, \
        "the draft is dropped once the checklist is in the outbox"

    # The signal is back, but the answer to the first try is lost on its way to the phone: the server recorded
    # the inspection and the phone does not know. The retry carries the same Idempotency-Key.
    tries = []

    def lose_first_answer(route):
        if route.request.method != "POST":
            route.continue_()
            return
        tries.append(route.request.headers.get("idempotency-key"))
        if len(tries) == 1:
            route.fetch()
            route.abort()
        else:
            route.continue_()

    page.route("**/inspections/do/", lose_first_answer)
    s.context.set_offline(False)
    page.evaluate("() => { window.dispatchEvent(new Event('online')); window.dispatchEvent(new Event('online')); }")
    expect(status).to_contain_text("已提交")
    assert len(tries) >= 2 and len(set(tries)) == 1, tries
    assert _outbox(page) == 0
    # Yet another flush finds nothing to send.
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.wait_for_timeout(300)

    ins = Inspection.objects.get()
    assert (ins.target_id, ins.plan, ins.period_key) == (c2.pk, town.plan, occurrence_on(town.plan, town.today).key)
    assert len(ins.track) >= 1
    # 无人值守 fails the item, but it has no case category: no case.
    assert (ins.passed, ins.failed_items, ins.score) == (False, 1, 82.0)
    assert not Case.objects.exists()
    s.problems.forgive(_OFFLINE_NOISE)
    s.problems.assert_none()


def _submit(town, target, *, answers=GOOD, when=None, photo=False):
    return inspection_submit(actor=town.inspector, subdistrict=town.sub, template=town.sorting,
                             target_type="compound", target_id=target.pk, answers=answers,
                             finished_at=when, started_at=when, track=[[31.335, 121.505, ""]],
                             photos={"bins": [_upload()]} if photo else None)


def test_manager_pages(insp_town, open_session):
    town = insp_town
    c1, c2 = town.compounds["c1"], town.compounds["c2"]
    # Last month: both compounds in its second week, one in its third, none in the others.
    first = (town.today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    monday = first + dt.timedelta(days=7 - first.weekday())  # the first Monday after the 1st
    noon = dt.time(12, tzinfo=timezone.get_current_timezone())
    for target, day in ((c1, monday), (c2, monday + dt.timedelta(days=1)), (c1, monday + dt.timedelta(days=8))):
        _submit(town, target, when=dt.datetime.combine(day, noon), answers={**GOOD, "accuracy": 50})
    # This month: one good, one failed (a case).
    _submit(town, c2)
    failed = _submit(town, c1, answers={**GOOD, "bins": "fail"}, photo=True)
    case = Case.objects.get()

    s = open_session(DESKTOP)
    s.login(town.users["dispatcher"])
    page = s.page
    s.goto("/inspections/")
    expect(page.get_by_role("link", name="计划完成情况")).to_be_visible()

    # Coverage: this month's table, and last month's with the plan calendar.
    s.goto("/inspections/coverage/")
    expect(page.locator("[data-testid=coverage]")).to_be_visible()
    s.goto(f"/inspections/coverage/?month={first:%Y-%m}")
    row = page.locator("[data-testid=coverage] tbody tr", has_text="垃圾分类周检")
    expect(row).to_have_count(1)
    cells = page.locator(".plan-calendar .cal-cell")
    assert cells.count() >= 4, cells.count()
    expect(page.locator(".plan-calendar .cal-done")).to_have_count(1)
    # The other weeks are missed (or, in the first days of a month, the last one still open).
    assert page.locator(".plan-calendar .cal-missed, .plan-calendar .cal-open").count() == cells.count() - 1
    assert page.locator(".plan-calendar .cal-done").get_attribute("title").endswith("2/2")
    s.shot("inspections-coverage")

    # Scores: this month's ranking and its chart.
    s.goto("/inspections/scores/")
    page.wait_for_selector("#score-chart[data-loaded='1'][data-rendered='1']")
    assert page.locator("#score-chart canvas").count() >= 1
    ranks = page.locator("[data-testid=scores] tbody tr")
    expect(ranks).to_have_count(2)
    s.shot("inspections-scores")

    # The map of findings: this month's failed inspection (and last month's, none of which failed).
    s.goto("/inspections/findings/")
    page.wait_for_selector("#findings-map[data-loaded]")
    assert int(page.get_attribute("#findings-map", "data-loaded")) >= 1
    expect(page.locator("[data-testid=findings-summary]")).to_contain_text("共 1 次不合格检查")
    _wait_for_map_to_settle(page, "#findings-map")
    s.shot("inspections-findings", full_page=False)

    # The record shows the case its failed item opened.
    s.goto(f"/inspections/{failed.pk}/")
    expect(page.locator("[data-testid=inspection-result]")).to_have_text("不合格")
    answers = page.locator("[data-testid=answers]")
    expect(answers.locator("tr", has_text="桶站设施完好")).to_contain_text(case.number)
    s.shot("inspections-detail")
    s.problems.assert_none()

    # A leader on the go: the same pages fit a phone.
    p = open_session(PHONE, mobile=True)
    p.login(town.users["leader"])
    for path in ("/inspections/", f"/inspections/coverage/?month={first:%Y-%m}", "/inspections/scores/",
                 "/inspections/findings/", f"/inspections/{failed.pk}/"):
        p.goto(path)
        if "scores" in path:
            p.page.wait_for_selector("#score-chart[data-rendered='1']")
        if "findings" in path:
            p.page.wait_for_selector("#findings-map[data-loaded='1']")
            _wait_for_map_to_settle(p.page, "#findings-map")
        p.assert_no_horizontal_overflow()
        if "findings" in path:
            p.shot("inspections-findings-phone", full_page=False)
    p.goto("/inspections/scores/")
    p.page.wait_for_selector("#score-chart[data-rendered='1']")
    p.shot("inspections-scores-phone")
    p.problems.assert_none()
