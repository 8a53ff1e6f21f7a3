import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from jiedao.cases.categories import category_subtree_ensure
from jiedao.cases.models import Case
from jiedao.inspections.services.inspect import inspection_submit
from jiedao.inspections.services.templates import template_create
from jiedao.kernel.exceptions import DomainError, PermissionDeniedError
from jiedao.places.models import River, Road
from jiedao.places.services import place_create
from jiedao.streets.models import RoadPolicy
from jiedao.streets.services import (
    dredging_record,
    drone_flight_import,
    drone_photo_mark,
    milestone_progress,
    project_accept,
    project_create,
    road_policy_save,
)


@pytest.fixture
def stown(town):
    t = town
    t.road = place_create(actor=None, kind="road", subdistrict=t.sub, name="政立路", road_class="arterial",
                          geometry={"type": "LineString", "coordinates": [[121.50, 31.335], [121.52, 31.335]]},
                          lat=31.335, lng=121.51, chief=t.users["road_chief"])
    t.river = place_create(actor=None, kind="river", subdistrict=t.sub, name="小吉浦",
                           geometry={"type": "LineString", "coordinates": [[121.50, 31.338], [121.52, 31.338]]},
                           lat=31.338, lng=121.51, chief=t.users["river_chief"])
    return t


def drone_jpeg(lat=31.3381, lng=121.5102, gps=True, when="2020:10:09 10:15:00") -> SimpleUploadedFile:
    img = Image.new("RGB", (64, 48), (30, 90, 160))
    exif = Image.Exif()
    if gps:
        def dms(v):
            d = int(v)
            m = int((v - d) * 60)
            return (float(d), float(m), round((v - d - m / 60) * 3600, 4))
        exif[0x8825] = {1: "N", 2: dms(lat), 3: "E", 4: dms(lng)}
    exif[0x8769] = {36867: when}
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return SimpleUploadedFile("DJI_0001.JPG", buf.getvalue())


def test_road_policy_versions_by_the_chief_or_a_manager(stown):
    t = stown
    p1 = road_policy_save(actor=t.users["road_chief"], road=t.road, problems="早高峰占道经营",
                          measures="城管中队早晚巡查", targets="占道经营清零", effective_from=dt.date(2020, 5, 1))
    p2 = road_policy_save(actor=t.users["dispatcher"], road=t.road, problems="早高峰占道经营；非机动车乱停",
                          measures="增设停车点", targets="非机动车规范停放", effective_from=dt.date(2020, 9, 1))
    assert (p1.version, p2.version) == (1, 2)
    assert RoadPolicy.objects.get(pk=p1.pk).problems == "早高峰占道经营"  # the old version stays as it was
    other = Road.objects.get(pk=t.road.pk)
    other.chief = None
    other.save()
    with pytest.raises(DomainError):
        road_policy_save(actor=t.users["road_chief"], road=other, problems="x", measures="y", targets="z",
                         effective_from=dt.date(2020, 9, 1))
    with pytest.raises(PermissionDeniedError):
        road_policy_save(actor=t.users["rc_staff"], road=t.road, problems="x", measures="y", targets="z",
                         effective_from=dt.date(2020, 9, 1))


def test_dredging_log(stown):
    t = stown
    rec = dredging_record(actor=t.users["river_chief"], river=t.river, date=dt.date(2020, 10, 9), length_m=320,
                          volume_m3=450, contractor="杨浦水务养护公司")
    assert rec.pk and t.river.dredgings.count() == 1
    with pytest.raises(DomainError):
        dredging_record(actor=t.users["river_chief"], river=t.river, date=dt.date(2020, 10, 9), length_m=-1,
                        volume_m3=450, contractor="x")


def test_drone_import_reports_bad_photos_and_marked_photo_opens_a_case(stown):
    t = stown
    cat = category_subtree_ensure(actor=None, subdistrict=t.sub, source="inspections", kind="event",
                                  major_code="I01", major_name="巡查发现", leaves=[("I01002", "河道巡查发现问题")],
                                  default_department=t.units["dept"])[0]
    files = [drone_jpeg(), drone_jpeg(gps=False), drone_jpeg(lat=48.85, lng=2.35),
             SimpleUploadedFile("notes.txt", b"not a photo")]
    files[1].name, files[2].name = "DJI_0002.JPG", "DJI_0003.JPG"
    result = drone_flight_import(actor=t.users["river_chief"], river=t.river, flown_on=dt.date(2020, 10, 9),
                                 files=files, pilot="王师傅")
    assert len(result.imported) == 1
    photo = result.imported[0]
    assert abs(photo.lat - 31.3381) < 1e-4 and abs(photo.lng - 121.5102) < 1e-4 and photo.taken_at.year == 2020
    errors = {e["file"]: e["message"] for e in result.errors}
    assert "没有GPS" in errors["DJI_0002.JPG"] and "不在中国境内" in errors["DJI_0003.JPG"]
    assert "不是有效的图片" in errors["notes.txt"]
    marked = drone_photo_mark(actor=t.users["river_chief"], photo=photo, note="岸边漂浮垃圾", category=cat)
    again = drone_photo_mark(actor=t.users["river_chief"], photo=marked, note="岸边漂浮垃圾", category=cat)
    assert marked.marked and marked.case_id == again.case_id
    case = Case.objects.get(source="inspection")
    assert case.external_id == f"drone:{photo.pk}" and abs(case.lat - photo.lat) < 1e-9


def test_project_milestones_photos_and_acceptance(stown):
    t = stown
    project = project_create(actor=t.users["dispatcher"], subdistrict=t.sub, name="政立路美丽街区", budget="120.50",
                             start_date=dt.date(2020, 4, 1), end_date=dt.date(2020, 10, 31), road=t.road,
                             milestones=[("设计", dt.date(2020, 5, 1)), ("施工", dt.date(2020, 9, 30))])
    acceptance = template_create(actor=None, subdistrict=t.sub, code="ACC", name="美丽街区验收", kind="acceptance",
                                 target_type="road", items=[{"code": "done", "text": "按设计完成", "kind": "pass_fail"}])
    ins = inspection_submit(actor=t.users["road_chief"], subdistrict=t.sub, template=acceptance, target_type="road",
                            target_id=t.road.pk, answers={"done": "pass"})
    with pytest.raises(DomainError):  # milestones still open
        project_accept(actor=t.users["dispatcher"], project=project, inspection=ins)
    buf = io.BytesIO()
    Image.new("RGB", (20, 20)).save(buf, "JPEG")
    for m in project.milestones.all():
        milestone_progress(actor=t.users["dispatcher"], milestone=m, progress=100, spent="118.00",
                           photos=[SimpleUploadedFile("p.jpg", buf.getvalue())])
    project.refresh_from_db()
    assert project.status == "in_progress" and project.photos.count() == 2 and str(project.spent) == "118.00"
    project_accept(actor=t.users["dispatcher"], project=project, inspection=ins)
    assert project.status == "accepted" and project.acceptance_id == ins.pk


def test_rivers_are_places(stown):
    assert River.objects.filter(pk=stown.river.pk).exists()
