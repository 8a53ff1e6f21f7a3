import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from python_calamine import CalamineWorkbook

from jiedao.cases.evaluation import evaluation
from jiedao.cases.evaluation.figures import figures_rebuild
from jiedao.cases.models import Case, CaseCategory, CasePhoto

from .conftest import report
from .test_intake import jpeg
from .test_workflow import S, drive_to, step


def _month():
    return timezone.localtime().strftime("%Y-%m")


def test_department_figures(cases_town):
    t = cases_town
    on_time = drive_to(t, report(t), "closed")
    late = drive_to(t, report(t, lat=31.3360, lng=121.5080, description="井盖缺失"), "closed")
    Case.objects.filter(pk=late.pk).update(deadline_at=timezone.now() - dt.timedelta(days=1))
    figures_rebuild()  # a change that bypasses the services: the kept figures are rebuilt from the rows
    reworked = drive_to(t, report(t, lat=31.3362, lng=121.5090, description="绿地垃圾"), "handled")
    step(t, reworked, "rework", "grid_worker", comment="未清理干净")
    returned = drive_to(t, report(t, lat=31.3364, lng=121.5095, description="乱张贴"), "dispatched")
    step(t, returned, "return", "department_handler", comment="非本部门职责")
    rows = {r.label: r for r in evaluation(user=t.users["dispatcher"], month=_month(), by="department")}
    cg = rows["城管中队"]
    assert (cg.dispatched, cg.closed, cg.closed_on_time) == (4, 2, 1)
    assert cg.on_time_close_rate == 50.0 and cg.rework_rate == 25.0 and cg.return_rate == 25.0
    assert cg.mean_handling_hours is not None
    assert on_time


def test_co_handling_departments_get_credit(cases_town, client_for):
    """Joint handling: the co-handling department's assignment counts for it (dispatched, of which co-handled, its
    own return and handling time, the case's outcome), on the kept figures, the live ones and the export."""
    from jiedao.cases.evaluation.figures import figures_check

    t = cases_town
    dept, dept2 = t.units["dept"], t.units["dept2"]
    joint = drive_to(t, report(t), S.REGISTERED)
    step(t, joint, "dispatch", "dispatcher", lead_department_id=dept.pk, co_department_ids=[dept2.pk])
    step(t, joint, "accept", "department_handler")
    step(t, joint, "accept", "dept2_handler")
    step(t, joint, "feedback", "dept2_handler", comment="协办部门已配合处置")
    step(t, joint, "feedback", "department_handler", comment="主办部门已处置")
    step(t, joint, "verify", "grid_worker")
    step(t, joint, "close", "dispatcher")
    stepped_out = drive_to(t, report(t, lat=31.3360, lng=121.5080, description="井盖缺失"), S.REGISTERED)
    step(t, stepped_out, "dispatch", "dispatcher", lead_department_id=dept.pk, co_department_ids=[dept2.pk])
    step(t, stepped_out, "return", "dept2_handler", comment="不涉及本部门")
    # The lead returns the whole case: the return is the lead's alone; the co-handler's assignment is cancelled.
    sent_back = drive_to(t, report(t, lat=31.3364, lng=121.5095, description="乱张贴"), S.REGISTERED)
    step(t, sent_back, "dispatch", "dispatcher", lead_department_id=dept.pk, co_department_ids=[dept2.pk])
    step(t, sent_back, "return", "department_handler", comment="非本部门职责")
    assert set(sent_back.assignments.values_list("role", "state")) == {("lead", "returned"), ("co", "cancelled")}
    step(t, sent_back, "dispatch", "dispatcher", lead_department_id=dept.pk)
    assert figures_check() == []
    kept = {r.key: r for r in evaluation(user=t.users["dispatcher"], month=_month(), by="department")}
    live = {r.key: r for r in evaluation(user=t.users["dept2_handler"], month=_month(), by="department")}
    for rows in (kept, live):
        co = rows[dept2.pk]
        assert (co.dispatched, co.co_handled, co.closed, co.closed_on_time, co.returned) == (3, 3, 1, 1, 1)
        assert co.return_rate == 33.3 and co.mean_handling_hours is not None
    lead = kept[dept.pk]
    assert (lead.dispatched, lead.co_handled, lead.closed, lead.returned) == (4, 0, 1, 1)
    c = client_for(t.users["leader"])
    api = {r["key"]: r for r in c.get(f"/api/v1/cases/evaluation?month={_month()}&by=department").json()}
    assert api[dept2.pk]["co_handled"] == 3 and api[dept.pk]["co_handled"] == 0
    page = c.get(f"/cases/evaluation/?month={_month()}").content.decode()
    assert "其中协办" in page
    sheets = {by: CalamineWorkbook.from_filelike(io.BytesIO(c.get(
        f"/cases/evaluation/export.xlsx?month={_month()}&by={by}").content)).get_sheet_by_index(0).to_python()
        for by in ("department", "grid")}
    header = sheets["department"][0]
    assert header[3:5] == ["派遣数", "其中协办数"] and "其中协办数" not in sheets["grid"][0]
    by_label = {row[0]: row for row in sheets["department"][1:]}
    assert by_label[dept2.name][4] == 3


def test_grid_and_worker_figures(cases_town):
    t = cases_town
    drive_to(t, report(t), "closed")
    report(t, lat=31.335, lng=121.515)  # the second grid
    by_grid = {r.label: r for r in evaluation(user=t.users["dispatcher"], month=_month(), by="grid")}
    assert by_grid["T1-1 网格1"].reported == 1 and by_grid["T1-1 网格1"].closed == 1 and by_grid["T1-2 网格2"].reported == 1
    assert by_grid["T1-1 网格1"].verified == 1 and by_grid["T1-1 网格1"].verification_on_time_rate == 100.0
    by_worker = evaluation(user=t.users["dispatcher"], month=_month(), by="worker")
    assert by_worker[0].reported == 2


def test_evaluation_page_api_and_export(cases_town, client_for):
    t = cases_town
    drive_to(t, report(t), "closed")
    c = client_for(t.users["leader"])
    page = c.get(f"/cases/evaluation/?month={_month()}")
    assert page.status_code == 200 and "城管中队" in page.content.decode() and 'id="eval-data"' in page.content.decode()
    api = c.get(f"/api/v1/cases/evaluation?month={_month()}&by=department").json()
    assert api[0]["label"] == "城管中队" and api[0]["closed"] == 1
    assert c.get("/api/v1/cases/evaluation?month=2020-13").status_code == 400
    x = c.get(f"/cases/evaluation/export.xlsx?month={_month()}")
    rows = CalamineWorkbook.from_filelike(io.BytesIO(x.content)).get_sheet_by_index(0).to_python()
    assert rows[0][0] == "对象" and rows[1][0] == "城管中队"
    for bad in ("2020-13", "x", '2026-01"\r\nX-Injected: 1'):
        r = c.get("/cases/evaluation/export.xlsx", {"month": bad})
        assert r.status_code == 400 and "X-Injected" not in r and "Content-Disposition" not in r
    assert c.get("/cases/evaluation/", {"month": "2020-13"}).status_code == 200  # the page falls back to this month
    for role in ("department_handler", "grid_worker", "rc_staff"):
        assert client_for(t.users[role]).get("/cases/evaluation/").status_code == 403
        assert client_for(t.users[role]).get(f"/api/v1/cases/evaluation?month={_month()}").status_code == 403


def test_console_filters_and_map(cases_town, client_for):
    t = cases_town
    a = report(t)
    b = report(t, lat=31.335, lng=121.515, description="路灯不亮")
    Case.objects.filter(pk=b.pk).update(deadline_at=timezone.now() - dt.timedelta(hours=2))
    c = client_for(t.users["dispatcher"])
    html = c.get("/cases/").content.decode()
    assert a.number in html and b.number in html
    html = c.get("/cases/?overdue=on").content.decode()
    assert b.number in html and a.number not in html
    html = c.get(f"/cases/?grid_id={t.grids[0].pk}").content.decode()
    assert a.number in html and b.number not in html
    geo = c.get("/cases/map.json?overdue=on").json()
    assert [f["properties"]["number"] for f in geo["features"]] == [b.number]


def test_bulk_dispatch_registers_and_dispatches(cases_town, client_for):
    t = cases_town
    a, b = report(t), report(t, lat=31.335, lng=121.515, description="路灯不亮")
    c = client_for(t.users["dispatcher"])
    r = c.post("/cases/bulk-dispatch/", {"case": [f"{a.pk}:{a.version}", f"{b.pk}:{b.version}", "999:1"],
                                          "lead_department_id": t.units["dept"].pk})
    assert r.status_code == 302
    assert set(Case.objects.filter(pk__in=[a.pk, b.pk]).values_list("state", flat=True)) == {"dispatched"}
    nothing = c.post("/cases/bulk-dispatch/", {"lead_department_id": t.units["dept"].pk}, follow=True)
    assert "请先勾选要派遣的案件。" in nothing.content.decode()


def test_web_transition_with_photo_and_stale_form(cases_town, client_for):
    t = cases_town
    case = drive_to(t, report(t), "accepted")
    case.refresh_from_db()
    c = client_for(t.users["department_handler"])
    from django.core.files.uploadedfile import SimpleUploadedFile

    r = c.post(f"/cases/{case.pk}/feedback/", {"version": case.version, "comment": "已清理",
                                               "photos": [SimpleUploadedFile("f.jpg", jpeg())]})
    assert r.status_code == 302
    assert CasePhoto.objects.filter(case=case, stage="feedback").count() == 1
    again = c.post(f"/cases/{case.pk}/feedback/", {"version": case.version, "comment": "重复提交",
                                                   "photos": [SimpleUploadedFile("f.jpg", jpeg())]}, follow=True)
    assert "已被他人更新" in again.content.decode() or "不能执行" in again.content.decode()
    assert Case.objects.get(pk=case.pk).state == "handled"
    # Feedback on the page comes with a photo of the site.
    other = drive_to(t, report(t, lat=31.3360, lng=121.5070, description="井盖缺失"), "accepted")
    r = c.post(f"/cases/{other.pk}/feedback/", {"version": other.version, "comment": "已处置"}, follow=True)
    assert "请上传处置后的现场照片" in r.content.decode() and Case.objects.get(pk=other.pk).state == "accepted"
    # Who may not act is refused as such (403, audited), photo or not.
    assert client_for(t.users["dispatcher"]).post(f"/cases/{other.pk}/feedback/", {
        "version": other.version, "comment": "已处置"}).status_code == 403


def test_inbox_and_field_pages(cases_town, client_for):
    t = cases_town
    dispatched = drive_to(t, report(t), "dispatched")
    handled = drive_to(t, report(t, lat=31.3352, lng=121.5052, description="井盖缺失"), "handled")
    inbox = client_for(t.users["department_handler"]).get("/cases/inbox/").content.decode()
    assert dispatched.number in inbox
    field = client_for(t.users["grid_worker"]).get("/cases/field/").content.decode()
    assert handled.number in field
    assert client_for(t.users["dept2_handler"]).get("/cases/inbox/").content.decode().count(dispatched.number) == 0


def test_the_inbox_follows_the_departments_own_assignment(cases_town):
    """Each tab by the department's own assignment, not any assignment of the case."""
    from jiedao.cases.selectors import department_inbox

    t = cases_town
    dept, dept2 = t.units["dept"], t.units["dept2"]

    def tabs(user):
        return {tab: [c.pk for c in qs] for tab, qs in department_inbox(user=t.users[user]).items()}

    # Returned by one department, dispatched to another: gone from the first one's inbox.
    returned = drive_to(t, report(t), S.REGISTERED)
    step(t, returned, "dispatch", "dispatcher", lead_department_id=dept.pk)
    step(t, returned, "return", "department_handler", comment="不属于本部门职责")
    step(t, returned, "dispatch", "dispatcher", lead_department_id=dept2.pk)
    mine, theirs = tabs("department_handler"), tabs("dept2_handler")
    assert all(returned.pk not in ids for ids in mine.values())
    assert theirs["to_accept"] == [returned.pk]
    # Joint handling, the lead accepts first: the co-handler still has it to accept, not in hand.
    joint = drive_to(t, report(t, lat=31.3352, lng=121.5052, description="井盖缺失"), S.REGISTERED)
    step(t, joint, "dispatch", "dispatcher", lead_department_id=dept.pk, co_department_ids=[dept2.pk])
    step(t, joint, "accept", "department_handler")
    mine, theirs = tabs("department_handler"), tabs("dept2_handler")
    assert joint.pk in mine["in_hand"] and joint.pk not in mine["to_accept"]
    assert joint.pk in theirs["to_accept"] and joint.pk not in theirs["in_hand"]
    # The lead's feedback given, the co-handler's owed: waiting for the lead, in hand for the co-handler.
    step(t, joint, "accept", "dept2_handler")
    step(t, joint, "feedback", "department_handler", comment="主办部门已处置")
    mine, theirs = tabs("department_handler"), tabs("dept2_handler")
    assert joint.pk in mine["waiting"] and joint.pk not in mine["in_hand"]
    assert joint.pk in theirs["in_hand"] and joint.pk not in theirs["waiting"]
    # Overdue: only the department that still owes the work.
    Case.objects.filter(pk=joint.pk).update(deadline_at=timezone.now() - dt.timedelta(hours=1))
    assert joint.pk in tabs("dept2_handler")["overdue"] and joint.pk not in tabs("department_handler")["overdue"]


def test_the_case_page_shows_possible_duplicates_side_by_side(cases_town, client_for, settings):
    """The dispatcher sees the flagged reports beside this one (state, words, address, time, photo) and can merge."""
    t = cases_town
    first = report(t, description="小区门口垃圾堆放", photos=(SimpleUploadedFile("a.jpg", jpeg()),))
    second = report(t, lat=31.33502, lng=121.50502, description="门口又堆满了垃圾", source="resident", user=None)
    assert second.duplicate_candidates == [first.pk]
    settings.CASE_DUPLICATE_RADIUS_M = 50
    html = client_for(t.users["dispatcher"]).get(f"/cases/{second.pk}/").content.decode()
    table = html[html.index('data-testid="duplicates"'):]
    table = table[:table.index("</table>")]
    assert "疑似重复（同类、50米内、48小时内）" in table
    for text in (first.number, "小区门口垃圾堆放", "门口又堆满了垃圾", first.address, "/thumb"):
        assert text in table
    assert 'data-action="merge"' in html and f'value="{first.pk}"' in html
    # Nobody else is offered the merge; the flagged case is shown only to those who may see it.
    assert 'data-action="merge"' not in client_for(t.users["grid_worker"]).get(f"/cases/{second.pk}/") \
        .content.decode()


def test_console_copes_with_cases_without_a_grid_and_keeps_its_default_when_paging(cases_town, client_for):
    """A 12345 order with only an address has no grid: the console shows "—" (it answered 500). Paging without
    filters keeps to the open cases; the search finds an order by its number."""
    from jiedao.cases.services.intake import Intake, case_report

    t = cases_town
    order = case_report(actor=None, subdistrict_id=t.sub.pk, intake=Intake(
        source="hotline", description="路灯不亮", address="政立路100号", external_id="SH20261127000009",
        category=t.category))
    assert order.grid_id is None
    closed = drive_to(t, report(t, lat=31.3360, lng=121.5070, description="井盖缺失"), "closed")
    c = client_for(t.users["dispatcher"])
    for url in ("/cases/", "/cases/?page=1", "/cases/?q=SH2026112700", f"/cases/?q={order.number}"):
        r = c.get(url)
        assert r.status_code == 200, url
        html = r.content.decode()
        assert order.number in html, url
        assert closed.number not in html, url  # the open cases, also on a page of its own
    assert closed.number in c.get("/cases/?state=closed&page=1").content.decode()


def test_supervision_levels_on_the_case_page(cases_town, client_for):
    t = cases_town
    case = drive_to(t, report(t), "dispatched")
    step(t, case, "supervise", "leader", comment="请加快处置", level=2)
    html = client_for(t.users["leader"]).get(f"/cases/{case.pk}/").content.decode()
    form = html[html.index('data-action="supervise"'):]
    form = form[:form.index("</form>")]
    assert 'value="1"' not in form and 'value="2"' not in form and 'value="3"' in form  # only upwards
    assert "督办（2级）" in html


def test_an_inspection_findings_reference_is_not_shown(cases_town, client_for):
    from jiedao.cases.services.intake import case_report_finding

    t = cases_town
    case, _created = case_report_finding(actor=None, subdistrict=t.sub, finding_ref="inspection:100:item:clean",
                                         category=t.category, description="卫生死角", lat=31.335, lng=121.505)
    html = client_for(t.users["dispatcher"]).get(f"/cases/{case.pk}/").content.decode()
    assert "inspection:100" not in html


def test_the_phone_report_form_works_without_script(cases_town, other_town, client_for):
    """The no-script path of /cases/field/report/ (the script posts to the API): a category of the worker's own
    sub-district is taken, another one's is refused on the page and nothing is created."""
    t = cases_town
    c = client_for(t.users["grid_worker"])
    body = {"description": "井盖破损", "category_id": t.category.pk, "lat": "31.335", "lng": "121.505"}
    r = c.post("/cases/field/report/", body)
    assert r.status_code == 400 and "请至少拍一张现场照片" in r.content.decode()  # a grid worker's report has one
    assert not Case.objects.exists()
    body["photos"] = SimpleUploadedFile("a.jpg", jpeg())
    r = c.post("/cases/field/report/", body)
    assert r.status_code == 302
    case = Case.objects.get(description="井盖破损")
    assert (case.subdistrict_id, case.category_id, case.source) == (t.sub.pk, t.category.pk, "grid_worker")
    assert case.grid_id == t.grids[0].pk and case.lead_department_id == t.category.default_department_id
    theirs = CaseCategory.objects.create(subdistrict=other_town.sub, kind="event", code="99001", name="他街道类别",
                                         is_leaf=True)
    body["photos"] = SimpleUploadedFile("a.jpg", jpeg())
    r = c.post("/cases/field/report/", {**body, "description": "路灯不亮", "category_id": theirs.pk})
    assert r.status_code == 400 and "案件类别不存在" in r.content.decode()
    assert not Case.objects.filter(description="路灯不亮").exists()
    # Staff registering a phone call have no photo to give.
    r = client_for(t.users["dispatcher"]).post("/cases/field/report/", {**body, "photos": [], "description": "占道"})
    assert r.status_code == 302 and Case.objects.get(description="占道").source == "staff"


def test_photos_are_served_only_within_scope(cases_town, other_town, client_for):
    t = cases_town
    case = report(t, photos=(__import__("django.core.files.uploadedfile", fromlist=["x"]).SimpleUploadedFile(
        "a.jpg", jpeg()),))
    photo = case.photos.get()
    r = client_for(t.users["dispatcher"]).get(f"/cases/photos/{photo.pk}/thumb")
    assert r.status_code == 200 and r["Content-Type"] == "image/jpeg"
    assert client_for(other_town.users["dispatcher"]).get(f"/cases/photos/{photo.pk}/thumb").status_code == 404
    assert client_for(t.users["dept2_handler"]).get(f"/cases/photos/{photo.pk}/full").status_code == 404
    from django.test import Client

    assert Client().get(f"/report/{case.public_token}/photos/{photo.pk}").status_code == 200
    assert Client().get(f"/report/wrong-token/photos/{photo.pk}").status_code == 404


def test_public_report_page_guards(cases_town, settings):
    import time

    from django.core import signing
    from django.test import Client

    c = Client()
    page = c.get("/report/")
    assert page.status_code == 200
    started = signing.dumps({"t": time.time() - 10}, salt="cases.public-report")
    body = {"description": "小区门口路灯坏了", "lat": "31.335", "lng": "121.505", "started": started,
            "category_id": t_category(cases_town), "reporter_phone": "13900001111"}
    r = c.post("/report/", body)
    assert r.status_code == 302 and r["Location"].startswith("/report/")
    case = Case.objects.get(source="resident")
    assert case.reporter_phone == "13900001111" and "13900001111" not in c.get(r["Location"]).content.decode()
    bot = c.post("/report/", {**body, "website": "http://spam"})
    fast = c.post("/report/", {**body, "started": signing.dumps({"t": time.time()}, salt="cases.public-report")})
    forged = c.post("/report/", {**body, "started": "forged"})
    assert bot.status_code == fast.status_code == forged.status_code == 400
    assert Case.objects.filter(source="resident").count() == 1


def test_public_report_rate_limit_counts_each_resident_behind_the_proxy(cases_town, settings):
    """10 reports an hour per client address; behind nginx (JIEDAO_TRUST_PROXY=1) that is the address nginx saw,
    not the proxy's own (every resident would share one limit) nor what a client writes into the header."""
    import time

    from django.core import signing
    from django.core.cache import cache
    from django.test import Client

    cache.clear()
    settings.TRUST_PROXY = 1
    started = signing.dumps({"t": time.time() - 10}, salt="cases.public-report")
    body = {"description": "小区门口路灯坏了", "lat": "31.335", "lng": "121.505", "started": started,
            "category_id": t_category(cases_town)}

    def post(address, spoofed="198.51.100.77"):
        return Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"{spoofed}, {address}").post("/report/", body)

    assert [post("203.0.113.1", spoofed=f"198.51.100.{i}").status_code for i in range(10)] == [302] * 10
    limited = post("203.0.113.1")
    assert limited.status_code == 429 and "提交过于频繁" in limited.content.decode()
    assert post("203.0.113.2").status_code == 302  # another resident behind the same proxy
    assert Case.objects.filter(source="resident").count() == 11
    cache.clear()


def t_category(town):
    return town.category.pk


def test_public_follow_up_after_close(cases_town):
    from django.test import Client

    t = cases_town
    case = drive_to(t, report(t, source="resident", user=None), "closed")
    c = Client()
    assert "您对处理结果满意吗" in c.get(f"/report/{case.public_token}/").content.decode()
    r = c.post(f"/report/{case.public_token}/", {"satisfaction": "5", "comment": "很快"})
    assert r.status_code == 302 and Case.objects.get(pk=case.pk).satisfaction == 5
    assert c.post(f"/report/{case.public_token}/", {"satisfaction": "4"}).status_code == 400  # once only


def test_satisfaction_feeds_the_evaluation_and_verifiers_count_by_worker(cases_town):
    t = cases_town
    from jiedao.cases.services.intake import Intake, case_report

    hotline = case_report(actor=None, subdistrict_id=t.sub.pk, intake=Intake(
        source="hotline", description="暴露垃圾", category=t.category, lat=31.335, lng=121.505, external_id="H9"))
    case = drive_to(t, hotline, "closed")
    step(t, case, "follow_up", "dispatcher", satisfaction=4, comment="回访满意")
    dept = {r.label: r for r in evaluation(user=t.users["dispatcher"], month=_month(), by="department")}
    assert dept["城管中队"].mean_satisfaction == 4.0
    grid = {r.label: r for r in evaluation(user=t.users["dispatcher"], month=_month(), by="grid")}
    assert grid["T1-1 网格1"].mean_satisfaction == 4.0
    workers = {r.key: r for r in evaluation(user=t.users["dispatcher"], month=_month(), by="worker")}
    verifier = workers[t.users["grid_worker"].pk]  # reported nothing (a hotline case), verified it
    assert verifier.reported == 0 and verifier.verified == 1


def test_without_a_link_the_public_page_asks_which_sub_district(cases_town, other_town):
    """With one sub-district /report/ is its form; with several it lists them, each linking to its own form, and a
    post without ?sd= creates nothing."""
    from django.test import Client

    c = Client()
    page = c.get("/report/")
    body = page.content.decode()
    assert page.status_code == 200 and 'data-testid="public-choose"' in body and 'data-testid="public-report"' not in body
    for sub in (cases_town.sub, other_town.sub):
        assert f'href="?sd={sub.code}"' in body and sub.name in body
    before = Case.objects.count()
    assert c.post("/report/", {"description": "路灯不亮"}).status_code == 200 and Case.objects.count() == before
    assert 'data-testid="public-report"' in c.get(f"/report/?sd={other_town.sub.code}").content.decode()


def test_with_one_sub_district_the_public_page_is_its_form(cases_town):
    from django.test import Client

    body = Client().get("/report/").content.decode()
    assert 'data-testid="public-report"' in body and 'data-testid="public-choose"' not in body


def test_a_public_report_goes_to_the_sub_district_of_its_link(cases_town, other_town):
    import time

    from django.core import signing
    from django.test import Client

    from jiedao.cases.categories import categories_load

    categories_load(actor=None, subdistrict=other_town.sub, departments={}, urgent_hours=4, normal_days=3)
    theirs = CaseCategory.objects.get(subdistrict=other_town.sub, kind="event", code="06010")
    c = Client()
    page = c.get(f"/report/?sd={other_town.sub.code}").content.decode()
    assert f'value="{theirs.pk}"' in page and f'value="{cases_town.category.pk}"' not in page
    started = signing.dumps({"t": time.time() - 10}, salt="cases.public-report")
    body = {"description": "路灯不亮", "started": started, "category_id": theirs.pk, "address": "政立路100号"}
    assert c.post(f"/report/?sd={other_town.sub.code}", body).status_code == 302
    case = Case.objects.get(source="resident")
    assert case.subdistrict_id == other_town.sub.pk and case.category_id == theirs.pk
    # a category of another sub-district is not taken, and an unknown link is no sub-district at all
    c.post(f"/report/?sd={other_town.sub.code}", {**body, "category_id": cases_town.category.pk})
    assert Case.objects.filter(source="resident").order_by("-pk").first().category_id is None
    assert c.get("/report/?sd=000000000").status_code == 404
    assert c.post("/report/?sd=000000000", body).status_code == 404


def test_a_merged_report_follows_its_case_and_its_reporter_can_rate_it(cases_town, client_for):
    """A resident's report merged into another case showed 已合并 and a deadline forever, and could never be rated
    (found in a UX review, 2026-11-27): its page follows the case it was merged into, and once that one is closed
    the resident rates; the dispatcher sees the merged reports on the case."""
    from django.test import Client

    from jiedao.cases.services.transitions import case_follow_up_public, case_transition
    from jiedao.kernel.exceptions import ConflictError

    t = cases_town
    primary = report(t)
    theirs = report(t, user=None, source="resident", reporter_name="张三丰", lat=31.33501, lng=121.50501)
    case_transition(actor=t.users["dispatcher"], case=theirs, action="merge", expected_version=theirs.version,
                    duplicate_of_id=primary.pk)
    page = Client().get(f"/report/{theirs.public_token}/").content.decode()
    assert f"编号 {primary.number} 的反映是同一问题" in page
    assert "data-testid=\"rate-form\"" not in page
    with pytest.raises(ConflictError):
        case_follow_up_public(token=theirs.public_token, satisfaction=5)
    drive_to(t, primary, "closed")
    page = Client().get(f"/report/{theirs.public_token}/").content.decode()
    assert "已结案" in page and 'data-testid="rate-form"' in page
    r = Client().post(f"/report/{theirs.public_token}/", {"satisfaction": "4"})
    assert r.status_code == 302 and Case.objects.get(pk=theirs.pk).satisfaction == 4
    detail = client_for(t.users["dispatcher"]).get(f"/cases/{primary.pk}/").content.decode()
    assert 'data-testid="merged-in"' in detail and theirs.number in detail and "张*丰" in detail
    assert "张三丰" not in detail


def test_report_pickers_leave_out_the_legacy_only_categories(cases_town, client_for):
    """The 21 leaves kept only so that old 12345 codes find a category are not offered to reporters; the kind
    tells 部件 and 事件 of the same code apart."""
    from django.test import Client

    legacy = CaseCategory.objects.filter(subdistrict=cases_town.sub, code__startswith="L", is_leaf=True).first()
    assert legacy is not None
    for page in (client_for(cases_town.users["grid_worker"]).get("/cases/field/report/"),
                 Client().get(f"/report/?sd={cases_town.sub.code}")):
        html = page.content.decode()
        assert f'value="{legacy.pk}"' not in html and f'value="{cases_town.category.pk}"' in html
        assert "（事件 06010）" in html


def test_a_report_in_a_chain_of_merges_follows_the_last_case(cases_town):
    """A merged into B, B merged into C in turn: A's reporter follows C and rates once C is closed."""
    from django.test import Client

    from jiedao.cases.services.transitions import case_follow_up_public, case_transition

    t = cases_town
    c = report(t)
    b = report(t, lat=31.33501, lng=121.50501)
    a = report(t, user=None, source="resident", lat=31.33502, lng=121.50502)
    d = t.users["dispatcher"]
    case_transition(actor=d, case=a, action="merge", expected_version=a.version, duplicate_of_id=b.pk)
    case_transition(actor=d, case=b, action="merge", expected_version=b.version, duplicate_of_id=c.pk)
    assert f"编号 {c.number} 的反映是同一问题" in Client().get(f"/report/{a.public_token}/").content.decode()
    drive_to(t, c, "closed")
    assert case_follow_up_public(token=a.public_token, satisfaction=5).satisfaction == 5
