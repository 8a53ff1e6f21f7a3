from conftest import make_id
from jiedao.people.models import Person


def test_same_key_twice_creates_one_person(town, client_for):
    c = client_for(town.users["rc_staff"])
    body = {"name": "赵一", "id_number": make_id(77), "compound_id": town.compounds["c1"].pk}
    r1 = c.post("/api/v1/people", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    r2 = c.post("/api/v1/people", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json()
    assert Person.objects.filter(name="赵一").count() == 1


def test_failed_first_call_releases_the_key(town, client_for):
    c = client_for(town.users["rc_staff"])
    bad = c.post("/api/v1/people", {"name": "赵二", "id_number": "123"}, content_type="application/json",
                 HTTP_IDEMPOTENCY_KEY="k-2")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_id_number"
    good = c.post("/api/v1/people", {"name": "赵二", "id_number": make_id(78)}, content_type="application/json",
                  HTTP_IDEMPOTENCY_KEY="k-2")
    assert good.status_code == 201
