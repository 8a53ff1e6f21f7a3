"""Every admin (AuditedAdmin) is scoped to the user's sub-district: its lists and change pages, every dropdown, and
the sub-district a new row goes to, which is the user's own and never a form field (DESIGN §4.1–4.2)."""

import datetime as dt

from jiedao.cases.models import AlarmSource, Open311Key
from jiedao.kernel.models import AuditRecord, CalendarDay, OrgUnit

GONE = "/admin/"  # the admin's answer to an object outside get_queryset: "does not exist", back to the index


def form_of(response):
    assert response.status_code == 200, response.content.decode()[:2000]
    return response.context["adminform"].form


def choices(form, name) -> set[int]:
    return set(form.fields[name].queryset.values_list("pk", flat=True))


def test_another_subdistricts_alarm_source_and_open311_key_are_not_found(town, other_town, client_for):
    source = AlarmSource.objects.create(subdistrict=other_town.sub, code="XL-9", name="雪亮工程（乙）", secret="s")
    key = Open311Key.objects.create(subdistrict=other_town.sub, name="乙街道App", digest="0" * 64)
    c = client_for(town.users["system_admin"])
    for url in (f"/admin/cases/alarmsource/{source.pk}/change/", f"/admin/cases/open311key/{key.pk}/change/"):
        page = c.get(url)
        assert page.status_code == 302 and page["Location"] == GONE, url
        changed = c.post(url, {"code": "XL-9", "name": "改了", "secret": "t", "category_map": "{}", "rate": "1/m"})
        assert changed.status_code == 302 and changed["Location"] == GONE, url
        assert c.post(url.replace("/change/", "/delete/"), {"post": "yes"})["Location"] == GONE
    source.refresh_from_db()
    key.refresh_from_db()
    assert source.name == "雪亮工程（乙）" and key.name == "乙街道App"
    assert f"/admin/cases/alarmsource/{source.pk}/change/" not in c.get("/admin/cases/alarmsource/").content.decode()
    assert f"/admin/cases/open311key/{key.pk}/change/" not in c.get("/admin/cases/open311key/").content.decode()
    # Bulk deletion from the list cannot reach them either.
    c.post("/admin/cases/alarmsource/", {"action": "delete_selected", "_selected_action": [source.pk], "post": "yes"})
    assert AlarmSource.objects.filter(pk=source.pk).exists()


def test_a_new_alarm_source_and_key_go_to_the_users_subdistrict(town, other_town, client_for):
    c = client_for(town.users["system_admin"])
    assert "subdistrict" not in form_of(c.get("/admin/cases/alarmsource/add/")).fields
    assert "subdistrict" not in form_of(c.get("/admin/cases/open311key/add/")).fields
    r = c.post("/admin/cases/alarmsource/add/", {"subdistrict": other_town.sub.pk, "code": "XL-1", "name": "雪亮工程",
                                                 "secret": "s3cret", "category_map": "{}", "active": "on"})
    assert r.status_code == 302, r.content.decode()[:2000]
    source = AlarmSource.objects.get(code="XL-1")
    assert source.subdistrict_id == town.sub.pk
    assert AuditRecord.objects.get(action="admin.add", object_id=str(source.pk)).subdistrict_id == town.sub.pk
    # The signing secret is made by the app and shown once; the posted one is ignored, the page never shows it.
    assert source.secret != "s3cret" and len(source.secret) >= 40
    shown = [str(m) for m in r.wsgi_request._messages]
    assert any(source.secret in m for m in shown)
    assert source.secret in c.get("/admin/cases/alarmsource/").content.decode()  # the next page shows it, once
    assert source.secret not in c.get(f"/admin/cases/alarmsource/{source.pk}/change/").content.decode()
    old = source.secret
    c.post("/admin/cases/alarmsource/", {"action": "secret_regenerate", "_selected_action": [source.pk]})
    source.refresh_from_db()
    assert source.secret != old
    for record in AuditRecord.objects.filter(object_id=str(source.pk)):
        assert old not in str(record.changes) and source.secret not in str(record.changes)
    r = c.post("/admin/cases/open311key/add/", {"subdistrict": other_town.sub.pk, "name": "市民App", "rate": "60/m",
                                                "active": "on"})
    assert r.status_code == 302, r.content.decode()[:2000]
    assert Open311Key.objects.get(name="市民App").subdistrict_id == town.sub.pk


def test_org_unit_forms_offer_only_the_subdistricts_units(town, other_town, client_for):
    c = client_for(town.users["system_admin"])
    own = set(OrgUnit.objects.filter(subdistrict=town.sub).values_list("pk", flat=True))
    add = form_of(c.get("/admin/kernel/orgunit/add/"))
    assert choices(add, "parent") == own and "subdistrict" not in add.fields
    assert choices(form_of(c.get(f"/admin/kernel/orgunit/{town.units['rc1'].pk}/change/")), "parent") == own
    foreign_parent = {"kind": "department", "code": "new", "name": "新部门", "parent": other_town.units["office"].pk,
                      "active": "on"}
    assert c.post("/admin/kernel/orgunit/add/", foreign_parent).status_code == 200
    assert not OrgUnit.objects.filter(code="new").exists()
    r = c.post("/admin/kernel/orgunit/add/", {**foreign_parent, "parent": town.units["office"].pk,
                                              "subdistrict": other_town.sub.pk})
    assert r.status_code == 302, r.content.decode()[:2000]
    unit = OrgUnit.objects.get(code="new")
    assert unit.subdistrict_id == town.sub.pk and unit.path == f"{town.units['office'].path}{unit.pk}/"
    # A code is unique per sub-district: a form error, not a database error.
    again = c.post("/admin/kernel/orgunit/add/", {**foreign_parent, "parent": town.units["office"].pk})
    assert again.status_code == 200 and form_of(again).non_field_errors()
    assert OrgUnit.objects.filter(code="new").count() == 1


def test_people_pickers_list_only_the_subdistricts_accounts(town, other_town, client_for):
    c = client_for(town.users["system_admin"])
    chiefs = choices(form_of(c.get("/admin/places/road/add/")), "chief")
    assert town.users["road_chief"].pk in chiefs and other_town.users["road_chief"].pk not in chiefs
    grid_form = form_of(c.get("/admin/places/compound/add/"))
    assert choices(grid_form, "grid") == {g.pk for g in town.grids}
    assert other_town.units["rc1"].pk not in choices(grid_form, "residents_committee")
    security = client_for(town.users["security_admin"])
    membership = form_of(security.get("/admin/kernel/membership/add/"))
    assert town.users["leader"].pk in choices(membership, "user")
    assert other_town.users["leader"].pk not in choices(membership, "user")
    assert choices(membership, "org_unit") == set(OrgUnit.objects.filter(subdistrict=town.sub)
                                                  .values_list("pk", flat=True))


def test_calendar_days_are_the_subdistricts_own_and_national_ones_are_read_only(town, other_town, client_for):
    national = CalendarDay.objects.create(date=dt.date(2031, 10, 1), kind="holiday", name="国庆节")
    foreign = CalendarDay.objects.create(subdistrict=other_town.sub, date=dt.date(2031, 10, 9), kind="holiday")
    c = client_for(town.users["system_admin"])
    r = c.post("/admin/kernel/calendarday/add/", {"date": "2031-10-08", "kind": "holiday", "name": "调休",
                                                  "subdistrict": ""})
    assert r.status_code == 302, r.content.decode()[:2000]
    assert CalendarDay.objects.get(date=dt.date(2031, 10, 8)).subdistrict_id == town.sub.pk
    assert c.get(f"/admin/kernel/calendarday/{foreign.pk}/change/")["Location"] == GONE
    # A national day applies here too: shown, but changing it would change every sub-district's deadlines.
    assert c.get(f"/admin/kernel/calendarday/{national.pk}/change/").status_code == 200
    assert c.post(f"/admin/kernel/calendarday/{national.pk}/change/",
                  {"date": "2031-10-02", "kind": "workday"}).status_code == 403
    assert c.post(f"/admin/kernel/calendarday/{national.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = c.post("/admin/kernel/calendarday/", {"action": "delete_selected", "_selected_action": [national.pk],
                                                 "post": "yes"})
    assert bulk.status_code == 403
    national.refresh_from_db()
    assert (national.date, national.kind) == (dt.date(2031, 10, 1), "holiday")


def test_the_admin_pages_need_their_capability(town, client_for):
    security = client_for(town.users["security_admin"])  # users.manage, not config.manage nor org.manage
    for url in ("/admin/cases/alarmsource/add/", "/admin/cases/open311key/", "/admin/kernel/orgunit/add/"):
        assert security.get(url).status_code == 403, url
    assert security.post("/admin/cases/open311key/add/", {"name": "x", "rate": "1/m"}).status_code == 403
    assert not Open311Key.objects.exists()
    system = client_for(town.users["system_admin"])
    assert system.get("/admin/kernel/membership/add/").status_code == 403


def test_no_subdistrict_is_added_or_deleted_in_the_admin(town, client_for):
    c = client_for(town.users["system_admin"])
    assert c.get("/admin/kernel/subdistrict/add/").status_code == 403
    assert c.post(f"/admin/kernel/subdistrict/{town.sub.pk}/delete/", {"post": "yes"}).status_code == 403
    assert c.get(f"/admin/kernel/subdistrict/{town.sub.pk}/change/").status_code == 200
