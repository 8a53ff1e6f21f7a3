"""Every role × every object endpoint: an object of another sub-district answers 404 (DESIGN §4.2)."""

import pytest

from jiedao.cases.services.intake import Intake, case_report
from jiedao.kernel.alerts import alert_raise
from jiedao.kernel.models import AuditRecord
from jiedao.kernel.roles import ROLES


def _endpoints(town):
    """(method, url, body) for every object endpoint, pointed at one object of ``town``."""
    p = town.people["p1"].pk
    alert = alert_raise(rule="test.rule", subject_type="x", subject_id="1", message="m", subdistrict_id=town.sub.pk)
    audit = AuditRecord.objects.filter(subdistrict=town.sub).first().pk
    case = case_report(actor=None, subdistrict_id=town.sub.pk, intake=Intake(
        source="resident", description="路灯不亮", lat=31.335, lng=121.505, photos=(_jpeg(),)))
    photo = case.photos.get()
    eps = [
        ("get", f"/api/v1/people/{p}", None),
        ("patch", f"/api/v1/people/{p}", {"version": 1, "name": "改名"}),
        ("post", f"/api/v1/people/{p}/reveal", {"field": "phone", "reason": "核实"}),
        ("get", f"/api/v1/org-units/{town.units['rc1'].pk}", None),
        ("get", f"/api/v1/alerts/{alert.pk}", None),
        ("post", f"/api/v1/alerts/{alert.pk}/acknowledge", None),
        ("get", f"/api/v1/audit/{audit}", None),
        ("get", f"/people/{p}/", None),
        ("get", f"/people/{p}/edit/", None),
        ("post", f"/people/{p}/reveal/", {"field": "phone", "reason": "核实"}),
        ("post", f"/alerts/{alert.pk}/acknowledge/", None),
    ]
    eps += [("get", f"/api/v1/cases/{case.pk}", None),
            ("post", f"/api/v1/cases/{case.pk}/register", {"version": 1}),
            ("post", f"/api/v1/cases/{case.pk}/supervise", {"version": 1, "comment": "请加快"}),
            ("get", f"/cases/{case.pk}/", None),
            ("post", f"/cases/{case.pk}/register/", {"version": 1}),
            ("post", f"/cases/{case.pk}/supervise/", {"version": 1, "comment": "请加快"}),
            ("get", f"/cases/photos/{photo.pk}/thumb", None),
            ("get", f"/cases/photos/{photo.pk}/full", None)]
    eps += _inspection_endpoints(town)
    eps += [("get", f"/api/v1/places/grid/{town.grids[0].pk}", None)]
    eps += [("get", f"/api/v1/places/compound/{town.compounds['c1'].pk}", None)]
    return eps


def _inspection_endpoints(town):
    import datetime as dt

    from jiedao.inspections.services.inspect import inspection_submit
    from jiedao.inspections.services.plans import plan_create
    from jiedao.inspections.services.templates import template_create
    from jiedao.places.services import place_create
    from jiedao.streets.services import project_create

    template = template_create(actor=None, subdistrict=town.sub, code="GS", name="垃圾分类", kind="garbage_sorting",
                               target_type="compound", items=[{"code": "ok", "text": "合格", "kind": "pass_fail"}])
    plan = plan_create(actor=None, subdistrict=town.sub, name="周检", template_code="GS",
                       inspector=town.users["rc_staff"], frequency="weekly", start_date=dt.date(2020, 1, 1),
                       targets=[("compound", town.compounds["c1"].pk)])
    ins = inspection_submit(actor=town.users["rc_staff"], subdistrict=town.sub, template=template,
                            target_type="compound", target_id=town.compounds["c1"].pk, answers={"ok": "pass"})
    road = place_create(actor=None, kind="road", subdistrict=town.sub, name="某路", road_class="alley",
                        geometry={"type": "LineString", "coordinates": [[town.sub.centre_lng, town.sub.centre_lat],
                                                                        [town.sub.centre_lng + 0.01, town.sub.centre_lat]]})
    river = place_create(actor=None, kind="river", subdistrict=town.sub, name="某河",
                         geometry={"type": "LineString", "coordinates": [[town.sub.centre_lng, town.sub.centre_lat],
                                                                         [town.sub.centre_lng + 0.01, town.sub.centre_lat]]})
    project = project_create(actor=None, subdistrict=town.sub, name="某项目", budget="1", road=road,
                             start_date=dt.date(2020, 1, 1), end_date=dt.date(2020, 2, 1))
    return [
        ("get", f"/api/v1/inspections/{ins.pk}", None),
        ("get", f"/api/v1/inspections/templates/{template.pk}", None),
        ("get", f"/inspections/{ins.pk}/", None),
        ("get", f"/inspections/do/?plan={plan.pk}&target_type=compound&target_id={town.compounds['c1'].pk}",
         {"_needs": "inspections.do"}),
        ("get", f"/streets/roads/{road.pk}/", {"_needs": "inspections.view"}),
        ("get", f"/streets/rivers/{river.pk}/", {"_needs": "inspections.view"}),
        ("get", f"/streets/projects/{project.pk}/", {"_needs": "inspections.view"}),
        ("get", f"/api/v1/streets/roads/{road.pk}/policies", None),
        ("get", f"/api/v1/streets/rivers/{river.pk}/dredging", None),
    ]


def _jpeg():
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG")
    return SimpleUploadedFile("p.jpg", buf.getvalue())


def _call(client, method, url, body):
    if body and "_needs" in body:
        body = None
    if url.startswith("/api/"):
        return getattr(client, method)(url, body, content_type="application/json") if body is not None \
            else getattr(client, method)(url)
    return getattr(client, method)(url, body or {})


@pytest.mark.parametrize("role", sorted(ROLES))
def test_foreign_objects_answer_404_for_every_role(town, other_town, client_for, role):
    client = client_for(town.users[role])
    from jiedao.kernel.roles import ROLES as _ROLES

    for method, url, body in _endpoints(other_town):
        needs = (body or {}).get("_needs") if isinstance(body, dict) else None
        r = _call(client, method, url, body)
        # A page the role cannot use at all answers 403 before any lookup: nothing about the object leaks.
        allowed = {403, 404} if needs and needs not in _ROLES[role].caps else {404}
        assert r.status_code in allowed, f"{role} {method.upper()} {url} → {r.status_code}"


def test_committee_staff_see_their_compounds_people_only(town, client_for):
    c = client_for(town.users["rc_staff"])
    assert c.get(f"/api/v1/people/{town.people['p1'].pk}").status_code == 200
    assert c.get(f"/api/v1/people/{town.people['p2'].pk}").status_code == 404
    assert c.get(f"/people/{town.people['p2'].pk}/").status_code == 404
    names = [x["name"] for x in c.get("/api/v1/people").json()["items"]]
    assert names == ["王小明"]


def test_grid_worker_sees_the_people_of_assigned_grids(town, client_for):
    c = client_for(town.users["grid_worker"])
    names = [x["name"] for x in c.get("/api/v1/people").json()["items"]]
    assert names == ["王小明"]
    # but may not reveal
    r = c.post(f"/api/v1/people/{town.people['p1'].pk}/reveal", {"field": "phone", "reason": "核实"},
               content_type="application/json")
    assert r.status_code == 403
    assert AuditRecord.objects.filter(action="authz.denied", actor_username="T1-grid_worker").exists()


@pytest.mark.parametrize("role", ["system_admin", "security_admin", "audit_admin", "leader", "dispatcher",
                                  "department_handler", "service_specialist", "road_chief", "river_chief"])
def test_roles_without_people_capability_see_no_people(town, client_for, role):
    c = client_for(town.users[role])
    assert c.get("/api/v1/people").json()["items"] == []
    assert c.get(f"/api/v1/people/{town.people['p1'].pk}").status_code == 404


def test_lists_never_include_foreign_rows(town, other_town, client_for):
    foreign = {
        "/api/v1/places/grid": {g.pk for g in other_town.grids},
        "/api/v1/places/compound": {x.pk for x in other_town.compounds.values()},
        "/api/v1/org-units": {u.pk for u in other_town.units.values()},
        "/api/v1/people": {p.pk for p in other_town.people.values()},
        "/api/v1/cases": {case_report(actor=None, subdistrict_id=other_town.sub.pk, intake=Intake(
            source="resident", description="外街道的案件", lat=31.205, lng=121.605)).pk},
    }
    for role in ROLES:
        c = client_for(town.users[role])
        for url, theirs in foreign.items():
            ids = {x["id"] for x in c.get(url + "?limit=1000").json()["items"]}
            assert not ids & theirs, f"{role} {url}"


def test_audit_log_only_for_the_audit_admin(town, client_for):
    assert client_for(town.users["audit_admin"]).get("/api/v1/audit").status_code == 200
    assert client_for(town.users["audit_admin"]).get("/audit/").status_code == 200
    for role in ROLES:
        if role != "audit_admin":
            assert client_for(town.users[role]).get("/api/v1/audit").status_code == 403, role
            assert client_for(town.users[role]).get("/audit/").status_code == 403, role
