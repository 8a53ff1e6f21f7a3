import datetime as dt

from jiedao.streets.models import DronePhoto, RoadPolicy

from .test_streets import drone_jpeg, stown  # noqa: F401 - the fixture


def test_road_page_and_policy_form(stown, client_for):  # noqa: F811
    t = stown
    c = client_for(t.users["road_chief"])
    r = c.post(f"/streets/roads/{t.road.pk}/", {"problems": "占道经营", "measures": "联合巡查", "targets": "清零",
                                                "effective_from": "2020-10-01"})
    assert r.status_code == 302 and RoadPolicy.objects.filter(road=t.road).count() == 1
    page = c.get(f"/streets/roads/{t.road.pk}/").content.decode()
    assert "第 1 版" in page and "联合巡查" in page
    assert client_for(t.users["rc_staff"]).post(f"/streets/roads/{t.road.pk}/", {
        "problems": "x", "measures": "y", "targets": "z"}).status_code == 403


def test_river_page_drone_import_report_and_dredging(stown, client_for):  # noqa: F811
    t = stown
    c = client_for(t.users["river_chief"])
    bad = drone_jpeg(gps=False)
    bad.name = "NOGPS.JPG"
    r = c.post(f"/streets/rivers/{t.river.pk}/", {"flown_on": "2020-10-09", "photos": [drone_jpeg(), bad]})
    html = r.content.decode()
    assert r.status_code == 200 and "已导入 1 张照片" in html and "NOGPS.JPG" in html and "没有GPS" in html
    photo = DronePhoto.objects.get()
    assert c.get(f"/streets/drone-photos/{photo.pk}/thumb").status_code == 200
    r = c.post(f"/streets/rivers/{t.river.pk}/", {"form": "dredging", "date": "2020-10-08", "length_m": "200",
                                                  "volume_m3": "300", "contractor": "养护公司"})
    assert r.status_code == 302 and t.river.dredgings.count() == 1


def test_streets_api(stown, client_for):  # noqa: F811
    t = stown
    c = client_for(t.users["river_chief"])
    r = c.post(f"/api/v1/streets/rivers/{t.river.pk}/drone-flights", {"flown_on": "2020-10-09",
                                                                      "photos": [drone_jpeg(), drone_jpeg(gps=False)]})
    assert r.status_code == 201 and len(r.json()["imported"]) == 1 and len(r.json()["errors"]) == 1
    r = c.post(f"/api/v1/streets/rivers/{t.river.pk}/dredging", {"date": "2020-10-08", "length_m": 100,
                                                                 "volume_m3": 80, "contractor": "养护公司"},
               content_type="application/json")
    assert r.status_code == 201
    assert len(c.get(f"/api/v1/streets/rivers/{t.river.pk}/dredging").json()) == 1
    rc = client_for(t.users["road_chief"])
    r = rc.post(f"/api/v1/streets/roads/{t.road.pk}/policies", {"problems": "a", "measures": "b", "targets": "c",
                                                                "effective_from": str(dt.date(2020, 10, 1))},
                content_type="application/json")
    assert r.status_code == 201 and r.json()["version"] == 1
    assert rc.get("/api/v1/streets/projects").status_code == 200


def test_foreign_rivers_and_roads_are_404(stown, other_town, client_for):  # noqa: F811
    from jiedao.places.services import place_create

    river = place_create(actor=None, kind="river", subdistrict=other_town.sub, name="外河",
                         geometry={"type": "LineString", "coordinates": [[121.6, 31.2], [121.61, 31.2]]})
    c = client_for(stown.users["dispatcher"])
    assert c.get(f"/streets/rivers/{river.pk}/").status_code == 404
    assert c.get(f"/api/v1/streets/rivers/{river.pk}/dredging").status_code == 404
