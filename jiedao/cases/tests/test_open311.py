"""Walk the whole GeoReport v2 API as a client would, in XML and JSON (X-1)."""

import datetime as dt
import io
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import F
from django.test import Client
from django.utils import timezone
from PIL import Image

from jiedao.cases.models import Case, CaseEvent, Open311Key

from .conftest import report
from .test_workflow import drive_to, step

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


REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"}


def requests_in(resp, fmt: str) -> list[dict]:
    """A service_requests answer as a list of dicts, checking the spec's shape: a bare JSON array, or
    <service_requests><request>… in XML (each element's text, None when empty)."""
    if fmt == "json":
        body = js(resp)
        assert isinstance(body, list)
        return body
    root = xml(resp)
    assert root.tag == "service_requests" and all(r.tag == "request" for r in root)
    return [{child.tag: child.text for child in r} for r in root]


def when(moment) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds")


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
    assert garbage["service_code"] == "E06010" and garbage["metadata"] is True and garbage["keywords"] == "0102"
    root = xml(get("services.xml"))
    assert root.tag == "services" and root[0].tag == "service" and root[0].find("service_code").text
    assert root[0].find("metadata").text == "true"  # XML keeps the spec's text form
    definition = js(get("services/E06010.json"))
    attribute = definition["attributes"][0]
    assert definition["service_code"] == "E06010" and attribute["code"] == "urgency"
    assert attribute["variable"] is True and attribute["required"] is False
    assert type(attribute["order"]) is int and attribute["order"] == 1
    droot = xml(get("services/E06010.xml"))
    assert droot.tag == "service_definition"
    assert droot.find("attributes/attribute/values/value/key").text == "normal"
    xattr = droot.find("attributes/attribute")
    assert [xattr.find(k).text for k in ("variable", "required", "order")] == ["true", "false", "1"]
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
    item = js(get(f"requests/{rid}.json"))[0]
    assert item["lat"] is None and item["long"] is None  # null, not "": lat and long are numbers


def test_closed_case_maps_to_closed_with_notes_and_agency(o311):
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
    sd = {"jurisdiction_id": o311.sub.code}
    open_one = report(o311, source="open311", user=None)
    closed_one = report(o311, source="open311", user=None)
    drive_to(o311, closed_one, "closed")
    ids = {r["service_request_id"] for r in js(Client().get("/open311/v2/requests.json",
                                                             {"status": ["open", "closed"], **sd}))}
    assert {str(open_one.pk), str(closed_one.pk)} <= ids


def test_the_request_list_costs_the_same_queries_for_one_case_or_many(o311):
    """Merged reports included: their chains are followed for the whole list at once, not case by case."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count(**params):
        with CaptureQueriesContext(connection) as ctx:
            assert js(get("requests.json", jurisdiction_id=o311.sub.code, **params))
        return len(ctx.captured_queries)

    def merged_pair(lat):
        primary = report(o311, source="open311", user=None, lat=lat)
        theirs = report(o311, source="open311", user=None, lat=lat + 0.00001)
        step(o311, theirs, "merge", "dispatcher", duplicate_of_id=primary.pk)

    merged_pair(31.335)
    one, one_open = count(), count(status="open")
    for i in range(1, 6):
        report(o311, source="open311", user=None, lat=31.335 + i * 0.001)
        merged_pair(31.3355 + i * 0.001)
    assert count() == one and count(status="open") == one_open
    assert len(js(get("requests.json", jurisdiction_id=o311.sub.code))) == 17


def test_a_form_urlencoded_post_as_in_the_spec_example(o311):
    """The spec's example request is sent as application/x-www-form-urlencoded, not multipart."""
    body = urlencode([
        ("api_key", KEY), ("jurisdiction_id", o311.sub.code), ("service_code", "E06010"), ("lat", "31.335"),
        ("long", "121.505"), ("address_string", "政立路100号"), ("email", "smith@example.org"),
        ("device_id", "tt222111"), ("account_id", "123456"), ("first_name", "john"), ("last_name", "smith"),
        ("phone", "111111111"), ("description", "人行道上\n有一大片暴露垃圾"),
        ("media_url", "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg"),
        ("attribute[urgency]", "urgent")])
    for fmt in ("xml", "json"):
        r = Client().post(f"/open311/v2/requests.{fmt}", body,
                          content_type="application/x-www-form-urlencoded; charset=utf-8")
        assert r.status_code == 200
        [created] = requests_in(r, fmt)
        case = Case.objects.get(pk=int(created["service_request_id"]))
        assert case.source == "open311" and case.urgency == "urgent" and case.address == "政立路100号"
        assert case.description == "人行道上\n有一大片暴露垃圾" and case.lat == 31.335 and case.lng == 121.505
        data = case.events.first().data
        assert data["device_id"] == "tt222111" and data["attributes"] == {"urgency": "urgent"}
        assert data["media_url"] == ["http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg"]
        # The reporter's email is not stored at all (decision 0007).
        assert "smith@example.org" not in str(list(Case.objects.filter(pk=case.pk).values())) + str(data)
        [item] = requests_in(get(f"requests/{case.pk}.{fmt}"), fmt)
        assert item["media_url"] == data["media_url"][0]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_client_walks_the_whole_api(o311, fmt):
    """discovery → services → service definition → POST → tokens → requests/{id} → searches, as a client does it,
    each answer checked against the spec's shape and types in the format asked for."""
    c = Client()
    sd = {"jurisdiction_id": o311.sub.code}
    yes = True if fmt == "json" else "true"

    r = c.get(f"/open311/v2/discovery.{fmt}", sd)
    if fmt == "json":
        endpoint = js(r)["endpoints"][0]
        url, formats = endpoint["url"], endpoint["formats"]
    else:
        endpoint = xml(r).find("endpoints/endpoint")
        url, formats = endpoint.find("url").text, [f.text for f in endpoint.find("formats")]
    assert {"text/xml", "application/json"} <= set(formats)
    base = url.removeprefix("http://testserver")
    assert base == "/open311/v2/"

    r = c.get(f"{base}services.{fmt}", sd)
    if fmt == "json":
        services = js(r)
        assert all(type(s["metadata"]) is bool and type(s["service_code"]) is str for s in services)
    else:
        root = xml(r)
        assert root.tag == "services" and {s.tag for s in root} == {"service"}
        services = [{child.tag: child.text for child in s} for s in root]
        assert {s["metadata"] for s in services} <= {"true", "false"}
    garbage = next(s for s in services if s["service_code"] == "E06010")
    assert garbage["metadata"] == yes and garbage["type"] == "realtime"
    component = next(s["service_code"] for s in services if s["service_code"].startswith("C"))

    # metadata is true: the client asks for the service definition
    r = c.get(f"{base}services/E06010.{fmt}", sd)
    if fmt == "json":
        definition = js(r)
        assert isinstance(definition, dict) and definition["service_code"] == "E06010"  # one object, as in the spec
        attribute = definition["attributes"][0]
        assert type(attribute["order"]) is int and attribute["required"] is False
    else:
        root = xml(r)
        assert root.tag == "service_definition" and root.find("service_code").text == "E06010"
        node = root.find("attributes/attribute")
        attribute = {child.tag: child.text for child in node if child.tag != "values"}
        attribute["values"] = [{v.tag: v.text for v in value} for value in node.find("values")]
        assert attribute["order"] == "1" and attribute["required"] == "false"
    assert attribute["code"] == "urgency" and attribute["variable"] == yes
    assert [v["key"] for v in attribute["values"]] == ["normal", "urgent"]

    def create(**fields):
        r = c.post(f"{base}requests.{fmt}", {"api_key": KEY, **sd, "lat": "31.335", "long": "121.505", **fields})
        [created] = requests_in(r, fmt)
        assert type(created["service_request_id"]) is str and created["service_request_id"].isdigit()
        return created["service_request_id"], created["token"]

    rid, token = create(service_code="E06010", description="政立路人行道暴露垃圾", **{"attribute[urgency]": "urgent"})
    other, _ = create(service_code=component, description="井盖缺失", lat="31.3352")

    assert requests_in(c.get(f"{base}tokens/{token}.{fmt}", sd), fmt) == [{"service_request_id": rid, "token": token}]

    [item] = requests_in(c.get(f"{base}requests/{rid}.{fmt}", sd), fmt)
    assert set(item) == REQUEST_FIELDS
    assert (item["service_request_id"], item["status"], item["service_code"]) == (rid, "open", "E06010")
    assert item["status_notes"] == "待立案" and item["description"] == "政立路人行道暴露垃圾"
    if fmt == "json":
        assert type(item["lat"]) is float and (item["lat"], item["long"]) == (31.335, 121.505)
    else:
        assert (item["lat"], item["long"]) == ("31.335", "121.505")
    for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert dt.datetime.fromisoformat(item[key]).utcoffset() == dt.timedelta(hours=8), key
    assert item["updated_datetime"] >= item["requested_datetime"]

    drive_to(o311, Case.objects.get(pk=int(other)), "closed")

    def search(**params) -> dict:
        found = requests_in(c.get(f"{base}requests.{fmt}", {**sd, **params}), fmt)
        assert all(set(x) == REQUEST_FIELDS for x in found)
        return {x["service_request_id"]: x for x in found}

    # A list of ids overrides every other argument.
    assert set(search(service_request_id=f"{rid},{other}", status="closed", end_date="2010-01-01T00:00:00Z")) \
        == {rid, other}
    assert set(search(service_code="E06010")) == {rid}
    assert set(search(service_code=f"E06010,{component}")) == {rid, other}
    now = timezone.now()
    window = {"start_date": (now - dt.timedelta(hours=1)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "end_date": when(now + dt.timedelta(hours=1))}
    assert set(search(**window)) == {rid, other}
    assert search(start_date="2010-01-01T00:00:00Z", end_date="2010-03-01T00:00:00Z") == {}
    assert set(search(status="open", **window)) == {rid}
    closed = search(status="closed", **window)
    assert set(closed) == {other} and closed[other]["status"] == "closed" and closed[other]["status_notes"] == "已结案"


def test_a_merged_request_follows_the_case_it_was_merged_into(o311):
    """A dispatcher merged a client's report into another case: GET requests/{id} answered 404 and the list
    dropped it, while tokens/{token} still gave its id. It stays a request and follows that case, as its public
    status page does: status, notes, expected time and agency of the case, its own description, place and photo."""
    from jiedao.cases.selectors import case_merged_into

    sd = {"jurisdiction_id": o311.sub.code}
    primary = drive_to(o311, report(o311, source="resident", user=None, urgency="urgent"), "dispatched")
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 10)).save(buf, "JPEG")
    created = js(post(lat="31.33501", long="121.50501", description="又见暴露垃圾",
                      files={"media": SimpleUploadedFile("p.jpg", buf.getvalue())}))[0]
    rid = created["service_request_id"]
    theirs = Case.objects.get(pk=int(rid))
    step(o311, theirs, "merge", "dispatcher", duplicate_of_id=primary.pk)
    theirs.refresh_from_db()
    assert theirs.state == "merged" and case_merged_into(theirs).pk == primary.pk

    def answer(fmt="json"):
        [item] = requests_in(get(f"requests/{rid}.{fmt}", **sd), fmt)
        return item

    def listed(**params):
        return {x["service_request_id"] for x in js(get("requests.json", **sd, **params))}

    def last_event(*cases):
        return max(CaseEvent.objects.filter(case__in=cases).exclude(action="follow_up")
                   .values_list("created_at", flat=True))

    primary.refresh_from_db()
    item = answer()
    assert item["status"] == "open" and item["status_notes"] == f"已合并到案件 {primary.number} 办理：待签收"
    assert item["expected_datetime"] == when(primary.deadline_at) != when(theirs.deadline_at)
    assert item["agency_responsible"] == "城管中队" and theirs.lead_department_id is None
    assert item["description"] == "又见暴露垃圾" and item["lat"] == 31.33501
    assert item["updated_datetime"] == when(last_event(theirs, primary))
    assert answer("xml")["status_notes"] == item["status_notes"] and answer("xml")["status"] == "open"
    photo = Client().get(item["media_url"].removeprefix("http://testserver"))
    assert photo.status_code == 200 and photo["Content-Type"] == "image/jpeg"
    assert js(get(f"tokens/{created['token']}.json", **sd)) == [{"service_request_id": rid,
                                                                   "token": created["token"]}]
    assert rid in listed() and rid in listed(status="open") and rid not in listed(status="closed")
    assert rid in listed(service_request_id=rid) and rid in listed(service_code="E06010")

    for action, role in (("accept", "department_handler"), ("feedback", "department_handler"),
                         ("verify", "grid_worker"), ("close", "dispatcher")):
        step(o311, primary, action, role, comment="已清理完毕")
    item = answer()
    assert item["status"] == "closed" and item["status_notes"] == f"已合并到案件 {primary.number} 办理：已结案"
    assert item["updated_datetime"] == when(last_event(theirs, primary))
    assert rid in listed(status="closed") and rid not in listed(status="open")

    # A chain: merged into a case that was merged in turn, it follows the last one, as case_merged_into does.
    middle = report(o311, source="resident", user=None, lat=31.3362)
    last = report(o311, source="resident", user=None, lat=31.3372)
    rid2 = js(post(lat="31.33621", long="121.505"))[0]["service_request_id"]
    step(o311, Case.objects.get(pk=int(rid2)), "merge", "dispatcher", duplicate_of_id=middle.pk)
    step(o311, middle, "merge", "dispatcher", duplicate_of_id=last.pk)
    assert case_merged_into(Case.objects.get(pk=int(rid2))).pk == last.pk
    for item in (answer_of := {x["service_request_id"]: x for x in js(get("requests.json", **sd))}[rid2],
                 js(get(f"requests/{rid2}.json", **sd))[0]):
        assert item["status"] == "open" and item["status_notes"] == f"已合并到案件 {last.number} 办理：待立案"
        assert item["updated_datetime"] == when(last_event(Case.objects.get(pk=int(rid2)), middle, last))
    assert answer_of["service_request_id"] == rid2
    assert rid2 in listed(status="open") and rid2 not in listed(status="closed")


def test_updated_datetime_never_goes_backwards_after_a_rework(o311):
    """It was pieced together from the phase timestamps: a rework clears handled_at, and the time fell back to the
    dispatch. It is the time of the latest event; the reporter's rating after the close does not move it (the spec:
    for a closed request, the time it was closed)."""
    case = drive_to(o311, report(o311, source="open311", user=None), "handled")

    def updated() -> dt.datetime:
        return dt.datetime.fromisoformat(js(get(f"requests/{case.pk}.json"))[0]["updated_datetime"])

    # The steps of a real case are hours apart, not the milliseconds of a test: spread them out, in the past.
    start = timezone.now().replace(microsecond=0) - dt.timedelta(days=1)
    events = list(case.events.order_by("created_at", "id"))
    assert [e.action for e in events] == ["report", "register", "dispatch", "accept", "feedback"]
    for i, event in enumerate(events):
        CaseEvent.objects.filter(pk=event.pk).update(created_at=start + dt.timedelta(hours=i))
    Case.objects.filter(pk=case.pk).update(reported_at=start, registered_at=start + dt.timedelta(hours=1),
                                           dispatched_at=start + dt.timedelta(hours=2),
                                           handled_at=start + dt.timedelta(hours=4))
    before = updated()
    assert before == start + dt.timedelta(hours=4)
    step(o311, case, "rework", "grid_worker", comment="现场仍有垃圾")
    seen = [before, updated()]
    assert seen[1] > seen[0] and seen[1] == case.events.get(action="rework").created_at.replace(microsecond=0)
    for action, role in (("feedback", "department_handler"), ("verify", "grid_worker"), ("close", "dispatcher")):
        step(o311, case, action, role, comment="已再次清理")
        seen.append(updated())
    assert seen == sorted(seen)
    CaseEvent.objects.filter(case=case).update(created_at=F("created_at") - dt.timedelta(days=1))
    closing = case.events.get(action="close").created_at.replace(microsecond=0)
    assert updated() == closing
    step(o311, case, "follow_up", "dispatcher", satisfaction=4, comment="电话回访，满意")
    assert updated() == closing and js(get(f"requests/{case.pk}.json"))[0]["status"] == "closed"
