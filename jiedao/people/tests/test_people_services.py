import pytest

from conftest import make_id
from jiedao.kernel.exceptions import ConflictError, DomainError, PermissionDeniedError
from jiedao.kernel.models import AuditRecord
from jiedao.people.models import Person
from jiedao.people.selectors import person_list
from jiedao.people.services import person_create, person_reveal, person_update


def test_birth_year_and_sex_come_from_the_id_number(town):
    p = town.people["p2"]
    assert p.sex == "F" and p.birth_year == int(p.id_number[6:10])


def test_search_by_full_id_number_and_phone_uses_the_blind_index(town):
    rc = town.users["rc_staff"]
    p1 = town.people["p1"]
    assert list(person_list(user=rc, q=p1.id_number)) == [p1]
    assert list(person_list(user=rc, q=p1.id_number.lower())) == [p1]
    assert list(person_list(user=rc, q="138 0000 0001")) == [p1]
    assert list(person_list(user=rc, q=p1.id_number[:10])) == []  # no partial matches on encrypted fields
    assert list(person_list(user=rc, q="小明")) == [p1]
    # p2's number is not visible to rc1 staff even when typed in full
    assert list(person_list(user=rc, q=town.people["p2"].id_number)) == []


def test_duplicate_id_number_is_refused(town):
    with pytest.raises(DomainError) as exc:
        person_create(actor=town.users["rc_staff"], subdistrict=town.sub, name="重复",
                      id_number=town.people["p1"].id_number)
    assert exc.value.code == "duplicate_id_number"


@pytest.mark.parametrize("field, value, code", [
    ("id_number", "310110198001011230", "invalid_id_number"),
    ("phone", "12345", "invalid_phone"),
    ("name", "  ", "name_required"),
])
def test_bad_input_is_refused_with_a_field_message(town, field, value, code):
    kwargs = {"name": "某人", field: value}
    with pytest.raises(DomainError) as exc:
        person_create(actor=town.users["rc_staff"], subdistrict=town.sub, **kwargs)
    assert exc.value.code == code and field in exc.value.fields
    assert not Person.objects.filter(name="某人").exists()


def test_stale_version_changes_nothing(town):
    p = town.people["p1"]
    person_update(actor=town.users["rc_staff"], person=p, expected_version=1, name="王大明")
    stale = Person.objects.get(pk=p.pk)
    with pytest.raises(ConflictError):
        person_update(actor=town.users["rc_staff"], person=stale, expected_version=1, name="王中明")
    fresh = Person.objects.get(pk=p.pk)
    assert fresh.name == "王大明" and fresh.version == 2


def test_stale_version_over_the_api_is_409(town, client_for):
    c = client_for(town.users["rc_staff"])
    url = f"/api/v1/people/{town.people['p1'].pk}"
    assert c.patch(url, {"version": 1, "name": "甲"}, content_type="application/json").status_code == 200
    r = c.patch(url, {"version": 1, "name": "乙"}, content_type="application/json")
    assert r.status_code == 409 and r.json()["code"] == "stale_version"
    assert c.get(url).json()["name"] == "甲"


def test_reveal_needs_a_reason_and_is_audited(town):
    p = town.people["p1"]
    with pytest.raises(DomainError):
        person_reveal(actor=town.users["rc_staff"], person=p, field="id_number", reason=" ")
    assert person_reveal(actor=town.users["rc_staff"], person=p, field="id_number", reason="核验") == p.id_number
    record = AuditRecord.objects.get(action="person.reveal")
    assert record.reason == "核验" and record.changes == {"field": [None, "id_number"]}


def test_reveal_without_capability_is_refused(town):
    with pytest.raises(PermissionDeniedError):
        person_reveal(actor=town.users["grid_worker"], person=town.people["p1"], field="phone", reason="核验")


def test_api_shows_personal_fields_masked_only(town, client_for):
    body = client_for(town.users["rc_staff"]).get(f"/api/v1/people/{town.people['p1'].pk}").content.decode()
    p = town.people["p1"]
    assert p.id_number not in body and "13800000001" not in body and "测试路1号3室" not in body
    assert p.id_number[:3] + "*" * 11 + p.id_number[-4:] in body
    assert str(p.birth_year) in body
    assert f"{p.id_number[6:10]}-{p.id_number[10:12]}" not in body  # never a full birth date


def test_pages_show_personal_fields_masked_only(town, client_for):
    c = client_for(town.users["rc_staff"])
    p = town.people["p1"]
    searched = c.post("/people/", {"q": p.id_number})
    assert searched.status_code == 302 and p.id_number not in searched["Location"]
    for url in ("/people/", f"/people/{p.pk}/", searched["Location"]):
        html = c.get(url).content.decode()
        assert "13800000001" not in html and "测试路1号3室" not in html
        assert p.id_number not in html.replace(f'value="{p.id_number}"', "")  # the search box keeps what was typed
    assert "王小明" in c.get(searched["Location"]).content.decode()


def test_personal_numbers_in_urls_are_refused(town, client_for):
    c = client_for(town.users["rc_staff"])
    p = town.people["p1"]
    r = c.get(f"/api/v1/people?q={p.id_number}")
    assert r.status_code == 400 and r.json()["code"] == "use_post_search"
    found = c.post("/api/v1/people/search", {"q": p.id_number}, content_type="application/json").json()
    assert [x["id"] for x in found["items"]] == [p.pk]
    html = c.get(f"/people/?q={p.id_number}").content.decode()  # ignored, not searched
    assert "李小红" not in html


def test_web_edit_keeps_blank_personal_fields(town, client_for):
    c = client_for(town.users["rc_staff"])
    p = town.people["p1"]
    r = c.post(f"/people/{p.pk}/edit/", {"name": "王小明", "residence_type": "migrant", "version": 1,
                                          "compound": town.compounds["c1"].pk})
    assert r.status_code == 302
    fresh = Person.objects.get(pk=p.pk)
    assert fresh.residence_type == "migrant" and fresh.phone == "13800000001" and fresh.id_number == p.id_number


def test_web_create_shows_field_errors(town, client_for):
    r = client_for(town.users["rc_staff"]).post("/people/new/", {"name": "某", "id_number": "123",
                                                                 "residence_type": "resident"})
    assert r.status_code == 400 and "身份证号应为18位" in r.content.decode()


def test_create_through_api(town, client_for):
    r = client_for(town.users["rc_staff"]).post("/api/v1/people", {
        "name": "钱三", "id_number": make_id(90), "phone": "+86 138-1234-5678",
        "compound_id": town.compounds["c1"].pk}, content_type="application/json")
    assert r.status_code == 201
    assert r.json()["phone_masked"] == "138****5678"


def test_create_in_a_foreign_compound_is_404(town, other_town, client_for):
    r = client_for(town.users["rc_staff"]).post("/api/v1/people", {
        "name": "钱四", "compound_id": other_town.compounds["c1"].pk}, content_type="application/json")
    assert r.status_code == 404
