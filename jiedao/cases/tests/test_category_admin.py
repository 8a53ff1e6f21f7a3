"""Case categories in the admin (管理后台): a sub-district's own configuration, added and edited by its system
administrator, audited, and read by the next intake of every process (categories_token, decision 0009)."""

from jiedao.cases import selectors
from jiedao.cases.categories import categories_load
from jiedao.cases.models import CaseCategory
from jiedao.cases.services.intake import Intake, case_report
from jiedao.kernel.models import AuditRecord, OrgUnit, Subdistrict
from jiedao.kernel.services import org_unit_create

ADD = "/admin/cases/casecategory/add/"


def change_url(category) -> str:
    return f"/admin/cases/casecategory/{category.pk}/change/"


def major(town, code="06", kind="event") -> CaseCategory:
    return CaseCategory.objects.get(subdistrict=town.sub, kind=kind, code=code)


def token(town) -> str:
    return Subdistrict.objects.get(pk=town.sub.pk).categories_token


def report_under(town, category):
    """A report that names its category by id, as the API and the forms do: the intake reads the per-process copy."""
    return case_report(actor=town.users["grid_worker"], subdistrict_id=town.sub.pk, intake=Intake(
        source="grid_worker", description="人行道上有暴露垃圾", category_id=category.pk, lat=31.335, lng=121.505))


def in_process_copy(town, category):
    """The category as an intake of this process reads it (the per-process copy, keyed by the fresh token)."""
    return selectors.category_in(Subdistrict.objects.get(pk=town.sub.pk), category.pk)


def test_a_config_manager_adds_a_leaf_and_it_lands_in_their_subdistrict(cases_town, other_town, client_for):
    t = cases_town
    c = client_for(t.users["system_admin"])
    assert c.get(ADD).status_code == 200
    before = token(t)
    r = c.post(ADD, {"kind": "event", "code": "06901", "legacy_code": "", "name": "共享单车乱停放",
                     "parent": major(t).pk, "default_department": t.units["dept2"].pk, "urgent_hours": "2",
                     "normal_days": "1", "active": "on",
                     "subdistrict": other_town.sub.pk})  # not a field: ignored
    assert r.status_code == 302, r.content.decode()[:2000]
    leaf = CaseCategory.objects.get(kind="event", code="06901")
    assert leaf.subdistrict_id == t.sub.pk and leaf.parent_id == major(t).pk and leaf.is_leaf
    assert leaf.source == "admin"
    record = AuditRecord.objects.get(action="admin.add", object_id=str(leaf.pk))
    assert record.subdistrict_id == t.sub.pk and record.actor_id == t.users["system_admin"].pk
    assert record.changes["code"] == [None, "06901"]
    assert token(t) != before
    # It is a category like the national ones: a report filed under it goes to its department.
    case = report_under(t, leaf)
    assert case.category_id == leaf.pk and case.lead_department_id == t.units["dept2"].pk


def test_a_category_without_parent_is_a_major_that_takes_leaves(cases_town, client_for):
    t = cases_town
    c = client_for(t.users["system_admin"])
    r = c.post(ADD, {"kind": "event", "code": "J01", "name": "街道自定事项", "active": "on"})
    assert r.status_code == 302, r.content.decode()[:2000]
    top = CaseCategory.objects.get(subdistrict=t.sub, kind="event", code="J01")
    assert top.parent_id is None and not top.is_leaf
    r = c.post(ADD, {"kind": "event", "code": "J01001", "name": "楼道堆物", "parent": top.pk, "active": "on"})
    assert r.status_code == 302, r.content.decode()[:2000]
    assert CaseCategory.objects.get(subdistrict=t.sub, code="J01001").is_leaf


def test_an_inconsistent_new_category_is_a_form_error_and_writes_nothing(cases_town, other_town, client_for):
    categories_load(actor=None, subdistrict=other_town.sub, departments={}, urgent_hours=4, normal_days=3)
    t = cases_town
    c = client_for(t.users["system_admin"])
    count = CaseCategory.objects.count()
    base = {"kind": "event", "name": "测试", "active": "on"}
    cases = {
        "the code exists in the sub-district": {**base, "code": "06010", "parent": major(t).pk},
        "a major of another sub-district": {**base, "code": "06902", "parent": major(other_town).pk},
        "a leaf as the parent": {**base, "code": "06010A", "parent": t.category.pk},
        "a major of the other kind": {**base, "code": "01901", "parent": major(t, "01", "component").pk},
        "a code outside its major's": {**base, "code": "07901", "parent": major(t).pk},
        "a department of another sub-district": {**base, "code": "06903", "parent": major(t).pk,
                                                 "default_department": other_town.units["dept"].pk},
    }
    for why, data in cases.items():
        r = c.post(ADD, data)
        assert r.status_code == 200 and r.context["adminform"].form.errors, why
    assert CaseCategory.objects.count() == count
    assert not AuditRecord.objects.filter(action="admin.add").exists()


def test_editing_a_category_is_audited_and_the_next_intake_follows_it(cases_town, client_for):
    t = cases_town
    assert report_under(t, t.category).lead_department_id is None  # the process now holds the categories
    before = token(t)
    c = client_for(t.users["system_admin"])
    r = c.post(change_url(t.category), {"name": t.category.name, "default_department": t.units["dept2"].pk,
                                        "urgent_hours": "8", "normal_days": "5", "active": "on",
                                        "code": "99999", "kind": "component"})  # read-only here: ignored
    assert r.status_code == 302, r.content.decode()[:2000]
    t.category.refresh_from_db()
    assert (t.category.code, t.category.kind, t.category.subdistrict_id) == ("06010", "event", t.sub.pk)
    assert t.category.default_department_id == t.units["dept2"].pk
    record = AuditRecord.objects.get(action="admin.change", object_id=str(t.category.pk))
    assert record.changes["default_department"] == [None, "市场监管所"]
    assert record.changes["normal_days"] == ["3", "5"] and record.changes["urgent_hours"] == ["4.0", "8.0"]
    assert token(t) != before
    copy = in_process_copy(t, t.category)
    assert (copy.default_department_id, copy.normal_days) == (t.units["dept2"].pk, 5)
    assert report_under(t, t.category).lead_department_id == t.units["dept2"].pk


def test_the_category_forms_offer_only_the_subdistricts_departments_and_majors(cases_town, other_town, client_for):
    categories_load(actor=None, subdistrict=other_town.sub, departments={}, urgent_hours=4, normal_days=3)
    t = cases_town
    c = client_for(t.users["system_admin"])
    own_departments = {t.units["dept"].pk, t.units["dept2"].pk}
    own_majors = set(CaseCategory.objects.filter(subdistrict=t.sub, parent__isnull=True).values_list("pk", flat=True))
    add = c.get(ADD).context["adminform"].form
    assert set(add.fields["default_department"].queryset.values_list("pk", flat=True)) == own_departments
    assert set(add.fields["parent"].queryset.values_list("pk", flat=True)) == own_majors
    assert "subdistrict" not in add.fields
    html = c.get(ADD).content.decode()
    assert f'<option value="{t.units["dept2"].pk}">' in html
    for foreign in (other_town.units["dept"], other_town.units["office"], t.units["office"]):
        assert f'<option value="{foreign.pk}">{foreign.name}</option>' not in html
    edit = c.get(change_url(t.category)).context["adminform"].form
    assert set(edit.fields["default_department"].queryset.values_list("pk", flat=True)) == own_departments
    assert "parent" not in edit.fields and "code" not in edit.fields  # read-only once the row exists


def test_another_subdistricts_category_is_not_found_and_not_changed(cases_town, other_town, client_for):
    categories_load(actor=None, subdistrict=other_town.sub, departments={"城管中队": other_town.units["dept"]},
                    urgent_hours=4, normal_days=3)
    foreign = major(other_town)
    c = client_for(cases_town.users["system_admin"])
    page = c.get(change_url(foreign))
    assert page.status_code == 302 and page["Location"] == "/admin/"  # the admin's "does not exist"
    r = c.post(change_url(foreign), {"name": "改名", "active": "on"})
    assert r.status_code == 302 and r["Location"] == "/admin/"
    assert c.post(f"/admin/cases/casecategory/{foreign.pk}/delete/", {"post": "yes"})["Location"] == "/admin/"
    foreign.refresh_from_db()
    assert foreign.name != "改名"
    listing = c.get("/admin/cases/casecategory/?q=06").content.decode()
    assert change_url(foreign) not in listing and change_url(major(cases_town)) in listing


def test_the_category_admin_needs_the_config_capability(cases_town, client_for):
    c = client_for(cases_town.users["security_admin"])  # in the admin, but not config.manage
    assert c.get(ADD).status_code == 403
    assert c.post(ADD, {"kind": "event", "code": "J02", "name": "x", "active": "on"}).status_code == 403
    assert c.get(change_url(cases_town.category)).status_code == 403
    assert not CaseCategory.objects.filter(code="J02").exists()


def test_deleting_a_default_department_reaches_the_intakes_copy(cases_town, client_for):
    """The unit's deletion empties the categories' default department by a bulk update (no signal): the admin
    renews the categories token itself, else intakes would name a unit that no longer exists."""
    t = cases_town
    unit = org_unit_create(actor=None, subdistrict=t.sub, kind="department", code="tmp", name="临时专班",
                           parent=t.units["office"])
    CaseCategory.objects.filter(pk=t.category.pk).update(default_department=unit)
    Subdistrict.objects.filter(pk=t.sub.pk).update(categories_token="before")
    assert in_process_copy(t, t.category).default_department_id == unit.pk
    assert report_under(t, t.category).lead_department_id == unit.pk
    c = client_for(t.users["system_admin"])
    r = c.post(f"/admin/kernel/orgunit/{unit.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302 and not OrgUnit.objects.filter(pk=unit.pk).exists()
    assert in_process_copy(t, t.category).default_department_id is None
    assert report_under(t, t.category).lead_department_id is None
