import time

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from conftest import PASSWORD
from jiedao.kernel.models import AuditRecord, User


def _token(client, username, password, ip="10.0.0.1"):
    return client.post("/api/v1/auth/token", {"username": username, "password": password},
                       content_type="application/json", REMOTE_ADDR=ip)


def test_token_login_and_bearer_use(town):
    c = Client()
    r = _token(c, "T1-rc_staff", PASSWORD)
    assert r.status_code == 200
    token = r.json()["token"]
    me = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.status_code == 200 and me.json()["roles"] == ["rc_staff"]
    assert AuditRecord.objects.filter(action="auth.login", actor_username="T1-rc_staff").exists()


def test_bad_bearer_token_is_401(db):
    r = Client().get("/api/v1/me", HTTP_AUTHORIZATION="Bearer nope")
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"


def test_anonymous_api_call_is_401_and_page_redirects_to_login(db):
    assert Client().get("/api/v1/people").status_code == 401
    r = Client().get("/people/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")


def test_five_failures_lock_the_username_and_ip_for_api_and_web(town):
    c = Client()
    for _ in range(4):
        assert _token(c, "T1-rc_staff", "wrong").status_code == 401
    assert _token(c, "T1-rc_staff", "wrong").status_code == 429  # the fifth failure locks
    r = _token(c, "T1-rc_staff", PASSWORD)
    assert r.status_code == 429 and r.json()["code"] == "locked_out"
    web = Client(REMOTE_ADDR="10.0.0.1")
    page = web.post("/accounts/login/", {"username": "T1-rc_staff", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1")
    assert page.status_code == 429
    # Another address is not locked.
    assert _token(Client(), "T1-rc_staff", PASSWORD, ip="10.0.0.2").status_code == 200
    assert AuditRecord.objects.filter(action="auth.login_failed").count() == 4
    assert AuditRecord.objects.filter(action="auth.lockout").count() == 3  # the 5th failure and two tries after


def test_web_login_success_and_logout_are_audited(town):
    c = Client()
    r = c.post("/accounts/login/", {"username": "T1-leader", "password": PASSWORD})
    assert r.status_code == 302
    assert c.get("/").status_code == 200
    c.post("/accounts/logout/")
    actions = list(AuditRecord.objects.filter(actor_username="T1-leader").values_list("action", flat=True))
    assert "auth.login" in actions and "auth.logout" in actions


def test_superuser_cannot_log_in_on_the_web(db):
    User.objects.create_superuser("root", password=PASSWORD)
    r = Client().post("/accounts/login/", {"username": "root", "password": PASSWORD})
    assert r.status_code == 401
    assert AuditRecord.objects.filter(action="auth.login_refused_superuser").exists()


def test_idle_session_expires_after_30_minutes(town, client_for, monkeypatch):
    c = client_for(town.users["leader"])
    assert c.get("/").status_code == 200
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 31 * 60)
    r = c.get("/")
    assert r.status_code == 302


def test_absolute_session_lifetime_is_12_hours(town, client_for, monkeypatch):
    c = client_for(town.users["leader"])
    c.get("/")
    real = time.time
    for minutes in range(25, 12 * 60, 25):  # active every 25 minutes: never idle
        monkeypatch.setattr(time, "time", lambda m=minutes: real() + m * 60)
        assert c.get("/").status_code == 200
    monkeypatch.setattr(time, "time", lambda: real() + 12 * 3600 + 60)
    assert c.get("/").status_code == 302


@pytest.mark.parametrize("password, ok", [
    ("short1A", False), ("alllowercaseletters", False), ("lowercase123", False), ("Lowercase123", True),
    ("Password123", False), ("Jiedao-2020", True),
])
def test_password_rules(db, password, ok):
    user = User(username="someone")
    if ok:
        validate_password(password, user)
    else:
        with pytest.raises(ValidationError):
            validate_password(password, user)


def test_csrf_is_enforced_for_cookie_authenticated_api_writes(town):
    c = Client(enforce_csrf_checks=True)
    c.force_login(town.users["rc_staff"])
    r = c.post("/api/v1/people", {"name": "某人"}, content_type="application/json")
    assert r.status_code == 403


def test_break_glass_superuser_creation_is_audited(db):
    from django.core.management import call_command

    call_command("createsuperuser", username="breakglass", email="", interactive=False, verbosity=0)
    record = AuditRecord.objects.get(action="auth.superuser_created")
    assert record.object_repr == "breakglass"


def test_bearer_token_writes_need_no_csrf(town):
    c = Client(enforce_csrf_checks=True)
    token = _token(Client(), "T1-rc_staff", PASSWORD).json()["token"]
    r = c.post("/api/v1/people", {"name": "令牌用户"}, content_type="application/json",
               HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 201
