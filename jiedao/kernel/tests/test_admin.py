"""The Django admin is for the system and security administrators only, and every edit is audited."""

from jiedao.kernel.models import AuditRecord, User


def test_admin_site_is_closed_to_domain_roles(town, client_for):
    for role in ("leader", "dispatcher", "rc_staff", "grid_worker", "audit_admin"):
        r = client_for(town.users[role]).get("/admin/")
        assert r.status_code == 302 and "/admin/login/" in r["Location"], role


def test_system_admin_edits_the_org_tree_and_it_is_audited(town, client_for):
    c = client_for(town.users["system_admin"])
    unit = town.units["rc2"]
    page = c.get(f"/admin/kernel/orgunit/{unit.pk}/change/")
    assert page.status_code == 200
    r = c.post(f"/admin/kernel/orgunit/{unit.pk}/change/", {
        "subdistrict": town.sub.pk, "parent": town.units["office"].pk, "kind": "residents_committee",
        "code": "rc2", "name": "二居委（已去筹）", "active": "on"})
    assert r.status_code == 302
    unit.refresh_from_db()
    assert unit.name == "二居委（已去筹）" and not unit.preparatory
    assert AuditRecord.objects.filter(action="admin.change", object_id=str(unit.pk)).exists()
    # Users are not the system admin's business.
    assert c.get("/admin/kernel/user/").status_code == 403


def test_system_admin_cannot_see_foreign_org_units(town, other_town, client_for):
    c = client_for(town.users["system_admin"])
    foreign = other_town.units["rc1"]
    assert c.get(f"/admin/kernel/orgunit/{foreign.pk}/change/").status_code == 302  # "does not exist" redirect
    listing = c.get("/admin/kernel/orgunit/?q=rc1").content.decode()
    assert f"/admin/kernel/orgunit/{foreign.pk}/change/" not in listing
    assert f"/admin/kernel/orgunit/{town.units['rc1'].pk}/change/" in listing


def test_security_admin_creates_an_account_with_a_policy_password(town, client_for):
    c = client_for(town.users["security_admin"])
    weak = c.post("/admin/kernel/user/add/", {"username": "new-staff", "display_name": "新同事",
                                               "password1": "password", "password2": "password"})
    assert weak.status_code == 200 and not User.objects.filter(username="new-staff").exists()
    ok = c.post("/admin/kernel/user/add/", {"username": "new-staff", "display_name": "新同事",
                                             "password1": "Xinjiangwan-2020", "password2": "Xinjiangwan-2020"})
    assert ok.status_code == 302
    user = User.objects.get(username="new-staff")
    assert user.check_password("Xinjiangwan-2020") and not user.is_staff and not user.is_superuser
    assert AuditRecord.objects.filter(action="admin.add", object_id=str(user.pk)).exists()
    assert c.get("/admin/kernel/orgunit/").status_code == 403


def test_admin_membership_add_goes_through_the_service_rule(town, client_for):
    c = client_for(town.users["security_admin"])
    r = c.post("/admin/kernel/membership/add/", {"user": town.users["system_admin"].pk,
                                                  "org_unit": town.units["office"].pk, "role": "audit_admin",
                                                  "active": "on"})
    assert r.status_code == 400 and "不能由同一人兼任" in r.content.decode()
    assert not town.users["system_admin"].memberships.filter(role="audit_admin").exists()
