import datetime as dt
import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from python_calamine import CalamineWorkbook

from jiedao.inspections.models import Inspection, InspectionPhoto
from jiedao.inspections.services.plans import plan_create

from .conftest import GOOD


def jpeg():
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 120, 0)).save(buf, "JPEG")
    return SimpleUploadedFile("p.jpg", buf.getvalue())


def _plan(t):
    return plan_create(actor=t.users["dispatcher"], subdistrict=t.sub, name="垃圾分类周检", template_code="GS",
                       inspector=t.users["rc_staff"], frequency="weekly", start_date=dt.date(2020, 1, 1),
                       targets=[("compound", t.compounds["c1"].pk)])


def test_field_form_posts_once_with_photos_and_track(itown, client_for):
    t = itown
    plan = _plan(t)
    c = client_for(t.users["rc_staff"])
    home = c.get("/inspections/").content.decode()
    assert "甲街道小区1" in home
    url = f"/inspections/do/?plan={plan.pk}&target_type=compound&target_id={t.compounds['c1'].pk}"
    page = c.get(url)
    assert page.status_code == 200 and "分类准确率" in page.content.decode()
    body = {"plan": plan.pk, "target_type": "compound", "target_id": t.compounds["c1"].pk,
            **{f"a_{k}": v for k, v in GOOD.items()}, "track": "31.335,121.505,2020-10-09T02:00:00Z;31.3351,121.5052,",
            "notes": "整体良好", "p_bins": jpeg()}
    r1 = c.post("/inspections/do/", body, HTTP_IDEMPOTENCY_KEY="k1", HTTP_ACCEPT="application/json")
    body["p_bins"] = jpeg()
    r2 = c.post("/inspections/do/", body, HTTP_IDEMPOTENCY_KEY="k1", HTTP_ACCEPT="application/json")
    assert r1.status_code == r2.status_code == 201 and r1.json()["id"] == r2.json()["id"]
    ins = Inspection.objects.get()
    assert len(ins.track) == 2 and ins.notes == "整体良好" and InspectionPhoto.objects.count() == 1
    assert ins.plan_id == plan.pk and ins.period_key
    detail = c.get(f"/inspections/{ins.pk}/").content.decode()
    assert "分类准确率" in detail and "合格" in detail
    bad = c.post("/inspections/do/", {**body, "a_accuracy": "999"}, HTTP_IDEMPOTENCY_KEY="k2",
                 HTTP_ACCEPT="application/json")
    assert bad.status_code in (400, 409)


def test_api_templates_due_create_scores(itown, client_for):
    t = itown
    _plan(t)
    c = client_for(t.users["rc_staff"])
    templates = c.get("/api/v1/inspections/templates").json()["items"]
    assert templates[0]["code"] == "GS" and len(templates[0]["items"]) == 5
    due = c.get("/api/v1/inspections/due").json()
    assert due[0]["target_name"] == "甲街道小区1" and due[0]["done"] is False
    r = c.post("/api/v1/inspections", {"template_id": t.sorting.pk, "target_type": "compound",
                                       "target_id": t.compounds["c1"].pk, "answers": GOOD},
               content_type="application/json", HTTP_IDEMPOTENCY_KEY="x")
    assert r.status_code == 201, r.content
    assert r.json()["passed"] is True and r.json()["template_version"] == 1, r.json()
    assert c.get("/api/v1/inspections/due").json()[0]["done"] is True
    month = dt.date.today().strftime("%Y-%m")
    scores = client_for(t.users["dispatcher"]).get(f"/api/v1/inspections/scores?template_code=GS&month={month}").json()
    assert scores[0]["rank"] == 1 and scores[0]["avg_score"] == 90.0
    assert c.get(f"/api/v1/inspections/{r.json()['id']}").status_code == 200


def test_manager_pages_and_export(itown, client_for):
    t = itown
    _plan(t)
    c = client_for(t.users["rc_staff"])
    c.post("/api/v1/inspections", {"template_id": t.sorting.pk, "target_type": "compound",
                                   "target_id": t.compounds["c1"].pk, "answers": {**GOOD, "bins": "fail"}},
           content_type="application/json")
    m = client_for(t.users["dispatcher"])
    month = dt.date.today().strftime("%Y-%m")
    assert "垃圾分类周检" in m.get("/inspections/coverage/").content.decode()
    assert "甲街道小区1" in m.get(f"/inspections/scores/?template=GS&month={month}").content.decode()
    x = m.get(f"/inspections/scores/?template=GS&month={month}&format=xlsx")
    rows = CalamineWorkbook.from_filelike(io.BytesIO(x.content)).get_sheet_by_index(0).to_python()
    assert rows[0][0] == "排名" and rows[1][1] == "甲街道小区1"
    geo = m.get("/inspections/findings.json").json()
    assert len(geo["features"]) == 1
    assert m.get("/api/v1/inspections/plans").json()["items"][0]["name"] == "垃圾分类周检"


def test_plan_api_creates_plans_for_managers_only(itown, client_for):
    t = itown
    body = {"name": "路长日巡", "template_code": "GS", "inspector_id": t.users["rc_staff"].pk, "frequency": "daily",
            "start_date": "2020-10-01", "workdays_only": True, "targets": [["compound", t.compounds["c1"].pk]]}
    assert client_for(t.users["dispatcher"]).post("/api/v1/inspections/plans", body,
                                                  content_type="application/json").status_code == 201
    assert client_for(t.users["rc_staff"]).post("/api/v1/inspections/plans", body,
                                                content_type="application/json").status_code == 403


def test_roles_without_inspection_rights(itown, client_for):
    for role in ("system_admin", "security_admin", "audit_admin"):
        assert client_for(itown.users[role]).get("/inspections/").status_code == 403 or role == "system_admin"
    assert client_for(itown.users["leader"]).get("/inspections/do/?template=GS&target_type=compound&target_id="
                                                 f"{itown.compounds['c1'].pk}").status_code == 403


def test_offline_times_photos_and_json_errors(itown, client_for):
    from django.utils import timezone

    t = itown
    plan = _plan(t)
    c = client_for(t.users["rc_staff"])
    done_at = (timezone.now() - dt.timedelta(hours=3)).isoformat()
    body = {"plan": plan.pk, "target_type": "compound", "target_id": t.compounds["c1"].pk,
            **{f"a_{k}": v for k, v in GOOD.items()}, "p_bins": jpeg(), "finished_at": done_at,
            "started_at": (timezone.now() - dt.timedelta(hours=4)).isoformat()}
    r = c.post("/inspections/do/", body, HTTP_ACCEPT="application/json")
    ins = Inspection.objects.get(pk=r.json()["id"])
    assert abs((ins.finished_at - timezone.now()).total_seconds() + 3 * 3600) < 60  # the phone's time
    photo = ins.photos.get()
    assert c.get(f"/inspections/photos/{photo.pk}/thumb").status_code == 200
    assert client_for(t.users["leader"]).get(f"/inspections/photos/{photo.pk}/thumb").status_code == 200
    from conftest import build_town

    other = build_town("TZ", "戊街道", 121.1, 30.9, 9)
    assert client_for(other.users["dispatcher"]).get(f"/inspections/photos/{photo.pk}/thumb").status_code == 404
    page = c.get(f"/inspections/do/?plan={plan.pk}&target_type=compound&target_id={t.compounds['c1'].pk}")
    assert "本周期已完成" in page.content.decode()
    missing = c.post("/inspections/do/", {"target_type": "compound", "target_id": 999999, "template": "GS"},
                     HTTP_ACCEPT="application/json")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    denied = client_for(t.users["leader"]).post("/inspections/do/", body, HTTP_ACCEPT="application/json")
    assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
    assert client_for(t.users["dispatcher"]).get("/inspections/findings.json?days=abc").status_code == 200


def test_trend_api_and_missed_task(itown, client_for):
    from jiedao.inspections.tasks import inspections_check_missed

    t = itown
    c = client_for(t.users["rc_staff"])
    c.post("/api/v1/inspections", {"template_id": t.sorting.pk, "target_type": "compound",
                                   "target_id": t.compounds["c1"].pk, "answers": GOOD}, content_type="application/json")
    trend = client_for(t.users["dispatcher"]).get(
        f"/api/v1/inspections/scores/trend?template_code=GS&target_type=compound&target_id={t.compounds['c1'].pk}").json()
    assert trend[-1]["avg_score"] == 90.0
    assert isinstance(inspections_check_missed.apply().get(), int)


def test_scores_page_shows_a_targets_trend(itown, client_for):
    t = itown
    c = client_for(t.users["rc_staff"])
    c.post("/api/v1/inspections", {"template_id": t.sorting.pk, "target_type": "compound",
                                   "target_id": t.compounds["c1"].pk, "answers": GOOD}, content_type="application/json")
    month = dt.date.today().strftime("%Y-%m")
    m = client_for(t.users["dispatcher"])
    page = m.get(f"/inspections/scores/?template=GS&month={month}").content.decode()
    assert f"trend=compound:{t.compounds['c1'].pk}" in page
    page = m.get(f"/inspections/scores/?template=GS&month={month}&trend=compound:{t.compounds['c1'].pk}").content.decode()
    assert 'id="trend-data"' in page and '"avg_score": 90.0' in page and "甲街道小区1" in page
