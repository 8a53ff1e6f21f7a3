import io

from django.test import Client
from python_calamine import CalamineWorkbook

from conftest import PASSWORD
from jiedao.kernel.models import AuditRecord


def _fail(username, times, ip="10.9.9.9"):
    for _ in range(times):
        Client().post("/api/v1/auth/token", {"username": username, "password": "wrong"},
                      content_type="application/json", REMOTE_ADDR=ip)


def test_security_admin_sees_and_lifts_a_lockout(town, client_for):
    _fail("T1-leader", 5)
    locked = Client().post("/api/v1/auth/token", {"username": "T1-leader", "password": PASSWORD},
                           content_type="application/json", REMOTE_ADDR="10.9.9.9")
    assert locked.status_code == 429
    sec = client_for(town.users["security_admin"])
    page = sec.get("/security/lockouts/")
    assert page.status_code == 200 and "T1-leader" in page.content.decode()
    assert sec.post("/security/lockouts/", {"username": "T1-leader", "ip": "10.9.9.9"}).status_code == 302
    ok = Client().post("/api/v1/auth/token", {"username": "T1-leader", "password": PASSWORD},
                       content_type="application/json", REMOTE_ADDR="10.9.9.9")
    assert ok.status_code == 200
    assert AuditRecord.objects.filter(action="auth.unlock", actor_username="T1-security_admin").exists()


def test_only_the_security_admin_unlocks(town, client_for):
    for role in ("system_admin", "audit_admin", "leader", "rc_staff"):
        assert client_for(town.users[role]).get("/security/lockouts/").status_code == 403


def test_audit_admin_exports_the_log_and_the_export_is_audited(town, client_for):
    r = client_for(town.users["audit_admin"]).get("/audit/export.xlsx?action=person")
    assert r.status_code == 200
    rows = CalamineWorkbook.from_filelike(io.BytesIO(r.content)).get_sheet_by_index(0).to_python()
    assert list(rows[0][:2]) == ["链", "序号"] and all(str(row[6]).startswith("person") for row in rows[1:]) and len(rows) > 1
    assert town.people["p1"].id_number not in str(rows)
    assert AuditRecord.objects.filter(action="audit.export").exists()
    assert client_for(town.users["system_admin"]).get("/audit/export.xlsx").status_code == 403


def test_inbox_lists_and_marks_read(town, client_for, django_capture_on_commit_callbacks):
    from jiedao.kernel.models import Notification
    from jiedao.kernel.notify import notify

    with django_capture_on_commit_callbacks(execute=True):
        notify(users=[town.users["dispatcher"]], title="新案件待派遣")
    c = client_for(town.users["dispatcher"])
    assert "新案件待派遣" in c.get("/inbox/").content.decode()
    c.post("/inbox/")
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    assert "新案件待派遣" not in client_for(town.users["leader"]).get("/inbox/").content.decode()
