"""Walk the whole GeoReport v2 API as a client would, in XML and JSON (X-1)."""

import io
import xml.etree.ElementTree as ET

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from jiedao.cases.models import Case, Open311Key

from .conftest import report

KEY = "test-open311-key"


@pytest.fixture
def o311(cases_town):
    Open311Key.objects.create(subdistrict=cases_town.sub, name="FixMyStreet", digest=Open311Key.digest_of(KEY))
    return cases_town


def get(path, **params):
    return Client().get(f"/open311/v2/{path}", params)


def xml(resp):
    assert resp["Content-Type"] == "text/xml; charset=utf-8"
    body = resp.content.decode()
    assert body.startswith('<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(resp.content)
    assert "}" not in root.tag  # no namespace
    return root


def js(resp):
    assert resp["Content-Type"] == "application/json; charset=utf-8"
    return resp.json()


def test_discovery_in_both_formats(o311):
    root = xml(get("discovery.xml"))
    assert root.tag == "discovery"
    formats = [f.text for f in root.find("endpoints").find("endpoint").find("formats")]
    assert formats == ["text/xml", "application/json"]
    data = js(get("discovery.json"))
    assert data["endpoints"][0]["formats"] == ["text/xml", "application/json"]
    assert data["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"


def test_services_list_and_definition(o311):
    services = js(get("services.json"))
    assert isinstance(services, list) and len(services) > 400
    garbage = next(s for s in services if s["service_name"] == "暴露垃圾" and s["service_code"].startswith("E"))
    assert garbage["service_code"] == "E06010" and garbage["metadata"] == "true" and garbage["keywords"] == "0102"
    root = xml(get("services.xml"))
    assert root.tag == "services" and root[0].tag == "service" and root[0].find("service_code").text
    definition = js(get("services/E06010.json"))
    assert definition["service_code"] == "E06010" and definition["attributes"][0]["code"] == "urgency"
    droot = xml(get("services/E06010.xml"))
    assert droot.tag == "service_definition"
    assert droot.find("attributes/attribute/values/value/key").text == "normal"
    for fmt in ("json", "xml"):
        assert get(f"services/E99999.{fmt}").status_code == 404


def post(fmt="json", files=None, **fields):
    data = {"api_key": KEY, "service_code": "E06010", "lat": "31.335", "long": "121.505",
            "description": "政立路人行道暴露垃圾", **fields}
    if files:
        data.update(files)
    return Client().post(f"/open311/v2/requests.{fmt}", data)


def test_post_get_and_token_in_json(o311):
    r = post(first_name="Lei", last_name="Wang", phone="13812345678", deviceid="abc",
             **{"attribute[urgency]": "urgent", "unknown_field": "ignored"})
    assert r.status_code == 200
    created = js(r)
    assert isinstance(created, list) and len(created) == 1
    rid = created[0]["service_request_id"]
    assert isinstance(rid, str) and created[0]["token"]
    case = Case.objects.get(pk=int(rid))
    assert case.source == "open311" and case.urgency == "urgent" and case.grid_id == o311.grids[0].pk
    one = js(get(f"requests/{rid}.json"))
    assert isinstance(one, list) and len(one) == 1
    item = one[0]
    assert item["service_request_id"] == rid and item["status"] == "open" and item["service_code"] == "E06010"
    assert item["requested_datetime"].endswith("+08:00") and item["expected_datetime"].endswith("+08:00")
    assert "13812345678" not in str(one) and "Wang" not in str(one)
    tok = js(get(f"tokens/{created[0]['token']}.json"))
    assert tok == [{"service_request_id": rid, "token": created[0]["token"]}]
    listing = js(get("requests.json", status="open", service_code="E06010"))
    assert [x["service_request_id"] for x in listing] == [rid]


def test_post_and_get_in_xml_with_photo_and_media_urls(o311):
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 10)).save(buf, "JPEG")
    c = Client()
    r = c.post("/open311/v2/requests.xml", {
        "api_key": KEY, "service_code": "E06010", "address_string": "殷行路100号", "description": "x",
        "media_url": ["https://example.org/a.jpg", "https://example.org/b.jpg"],
        "attribute[tags][]": ["a", "b"], "media": SimpleUploadedFile("p.jpg", buf.getvalue())})
    root = xml(r)
    assert root.tag == "service_requests" and root[0].tag == "request"
    rid = root.find("request/service_request_id").text
    case = Case.objects.get(pk=int(rid))
    assert case.photos.count() == 1 and case.events.first().data["media_url"] == ["https://example.org/a.jpg",
                                                                                   "https://example.org/b.jpg"]
    assert case.events.first().data["attributes"] == {"tags": ["a", "b"]}
    detail = xml(get(f"requests/{rid}.xml"))
    media = detail.find("request/media_url").text
    # The public copy at a signed address, not the reporter's own link (its token opens the case's follow-up).
    assert media.startswith("http://testserver/open311/v2/media/")
    assert case.public_token not in get(f"requests/{rid}.xml").content.decode() + get("requests.json").content.decode()
    photo = Client().get(media.removeprefix("http://testserver"))
    assert photo.status_code == 200 and photo["Content-Type"] == "image/jpeg"
    assert Client().get(media.removeprefix("http://testserver").replace(".jpg", "x.jpg")).status_code == 404
    assert (detail.find("request/lat").text or "") == ""  # located by address only


def test_closed_case_maps_to_closed_with_notes_and_agency(o311):
    from jiedao.cases.tests.test_workflow import drive_to

    case = report(o311, source="open311", user=None)
    drive_to(o311, case, "closed")
    item = js(get(f"requests/{case.pk}.json"))[0]
    assert item["status"] == "closed" and item["agency_responsible"] == "城管中队"
    # The state in words: the staff's comments ("已清理完毕" here) may quote residents and stay internal.
    assert item["status_notes"] == "已结案" and "已清理完毕" not in get(f"requests/{case.pk}.xml").content.decode()


def _error(resp, fmt: str) -> tuple[int, str]:
    """The status and the first error's code, checking the spec's error list shape in either format."""
    if fmt == "json":
        body = js(resp)
        assert isinstance(body, list) and set(body[0]) == {"code", "description"}
        return resp.status_code, body[0]["code"]
    root = xml(resp)
    assert root.tag == "errors" and root[0].tag == "error"
    return resp.status_code, root.find("error/code").text


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_errors_are_lists_with_the_right_status(o311, fmt):
    def codes(resp):
        return _error(resp, fmt)

    assert codes(post(fmt, api_key="wrong")) == (403, "403")
    assert codes(Client().post(f"/open311/v2/requests.{fmt}", {"service_code": "E06010", "lat": "1", "long": "1"})) \
        == (403, "403")
    assert codes(post(fmt, service_code="E00000")) == (404, "404")
    assert codes(post(fmt, lat="", long="")) == (400, "400")
    assert codes(post(fmt, lat="north")) == (400, "400")
    assert codes(get(f"requests/999999.{fmt}")) == (404, "404")
    assert codes(get(f"tokens/nope.{fmt}")) == (404, "404")
    assert codes(get(f"requests.{fmt}", start_date="yesterday")) == (400, "400")
    assert codes(get(f"requests.{fmt}", status="pending")) == (400, "400")
    assert codes(get(f"discovery.{fmt}", jurisdiction_id="nowhere")) == (404, "404")


def test_get_requests_defaults_to_90_days_and_hides_internal_sources(o311):
    import datetime as dt

    old = report(o311, source="resident", user=None)
    Case.objects.filter(pk=old.pk).update(reported_at=old.reported_at - dt.timedelta(days=100))
    recent = report(o311, source="resident", user=None, lat=31.3352)
    hotline = report(o311, source="hotline", user=None, lat=31.3354)
    ids = {x["service_request_id"] for x in js(get("requests.json"))}
    assert str(recent.pk) in ids and str(old.pk) not in ids and str(hotline.pk) not in ids
    assert get(f"requests/{hotline.pk}.json").status_code == 404
    since = (old.reported_at - dt.timedelta(days=101)).isoformat()
    assert str(old.pk) in {x["service_request_id"] for x in js(get("requests.json", start_date=since))}


def test_unknown_format_is_404(o311):
    assert get("services.csv").status_code == 404


def test_jurisdiction_id_is_accepted(o311):
    assert js(get("services.json", jurisdiction_id=o311.sub.code))


def test_with_several_jurisdictions_jurisdiction_id_is_required(o311, other_town):
    """GeoReport v2: jurisdiction_id "is only required if the endpoint serves multiple jurisdictions"."""
    for fmt in ("json", "xml"):
        assert _error(get(f"services.{fmt}"), fmt) == (400, "400")
        assert _error(get(f"requests.{fmt}"), fmt) == (400, "400")
    assert "jurisdiction_id" in js(get("services.json"))[0]["description"]
    ours = {s["service_code"] for s in js(get("services.json", jurisdiction_id=o311.sub.code))}
    assert "E06010" in ours
    assert _error(get("services.json", jurisdiction_id="nowhere"), "json") == (404, "404")


def test_api_key_rate_limit(o311, settings):
    Open311Key.objects.filter(digest=Open311Key.digest_of(KEY)).update(rate="2/m")
    assert post().status_code == 200 and post(lat="31.3353").status_code == 200
    r = post(lat="31.3356")
    assert r.status_code == 400 and js(r)[0]["code"] == "400"  # the spec knows 400, 403 and 404 only


def test_bad_input_gets_the_error_list_never_a_server_error(o311):
    """Dates that do not exist or overflow, ids beyond any integer, unknown paths and formats: 400 or 404 as the
    spec's list (found by walking the API as a client, 2026-11-27)."""
    sd = {"jurisdiction_id": o311.sub.code}
    for bad in ("2026-02-30T00:00:00", "2026-11-27T25:00:00+08:00", "2026-11-27T09:00:00+25:00", "0001-01-01",
                "9999-12-31T23:59:59+08:00", "yesterday"):
        for name in ("start_date", "end_date"):
            for fmt in ("json", "xml"):
                assert _error(get(f"requests.{fmt}", **sd, **{name: bad}), fmt) == (400, "400"), (name, bad)
    assert js(get("requests.json", service_request_id="99999999999999999999999", **sd)) == []
    assert _error(get("requests/99999999999999999999999.json", **sd), "json") == (404, "404")
    for path, fmt in (("services/E06010", "xml"), ("requests.JSON", "json"), ("services.json/", "xml"),
                      ("nothing/here.json", "json")):
        assert _error(get(path, **sd), fmt) == (404, "404"), path


def test_xml_stays_well_formed_whatever_a_client_posts(o311):
    r = post(description="井盖\x0b缺失\x01了")
    rid = js(r)[0]["service_request_id"]
    one = xml(get(f"requests/{rid}.xml", jurisdiction_id=o311.sub.code))
    assert one.find("request/description").text == "井盖缺失了"
    assert xml(get("requests.xml", jurisdiction_id=o311.sub.code)).tag == "service_requests"
    assert js(get(f"requests/{rid}.json", jurisdiction_id=o311.sub.code))[0]["description"] == "井盖\x0b缺失\x01了"


def test_attributes_are_checked_and_what_a_client_sends_is_kept(o311):
    for bad in ({"attribute[urgency]": "bogus"}, {"attribute[urgency][]": ["urgent", "normal"]}):
        assert _error(post(**bad), "json") == (400, "400")
    rid = js(post(**{"attribute[urgency][]": ["urgent"]}, device_id="dev-7"))[0]["service_request_id"]
    case = Case.objects.get(pk=rid)
    assert case.urgency == "urgent" and case.events.first().data["device_id"] == "dev-7"
    rid = js(post(deviceid="dev-8", media_url="https://example.org/a.jpg"))[0]["service_request_id"]
    item = js(get(f"requests/{rid}.json", jurisdiction_id=o311.sub.code))[0]
    assert item["media_url"] == "https://example.org/a.jpg"
    assert Case.objects.get(pk=rid).events.first().data["device_id"] == "dev-8"
    only_id = post(lat="", long="", address_id="123")
    assert _error(only_id, "json") == (400, "400") and "address_id" in js(only_id)[0]["description"]


def test_several_status_parameters_mean_either(o311):
    from jiedao.cases.tests.test_workflow import drive_to

    sd = {"jurisdiction_id": o311.sub.code}
    open_one = report(o311, source="open311", user=None)
    closed_one = report(o311, source="open311", user=None)
    drive_to(o311, closed_one, "closed")
    ids = {r["service_request_id"] for r in js(Client().get("/open311/v2/requests.json",
                                                             {"status": ["open", "closed"], **sd}))}
    assert {str(open_one.pk), str(closed_one.pk)} <= ids


def test_the_request_list_costs_the_same_queries_for_one_case_or_many(o311):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert js(get("requests.json", jurisdiction_id=o311.sub.code))
        return len(ctx.captured_queries)

    report(o311, source="open311", user=None)
    one = count()
    for i in range(5):
        report(o311, source="open311", user=None, lat=31.335 + i * 0.001)
    assert count() == one
