import pytest

from jiedao.kernel.alerts import alert_acknowledge, alert_raise, alert_resolve
from jiedao.kernel.exceptions import ConflictError, PermissionDeniedError
from jiedao.kernel.models import Alert, Notification
from jiedao.kernel.notify import notify


def _raise(town, subject="1"):
    return alert_raise(rule="test.rule", subject_type="people.person", subject_id=subject, message="体温异常",
                       subdistrict_id=town.sub.pk)


def test_raise_is_idempotent_while_unresolved(town):
    a = _raise(town)
    assert _raise(town).pk == a.pk
    alert_resolve(actor=town.users["dispatcher"], alert=a)
    assert _raise(town).pk != a.pk


def test_acknowledge_then_resolve_and_no_going_back(town):
    a = _raise(town)
    alert_acknowledge(actor=town.users["rc_staff"], alert=a)
    alert_resolve(actor=town.users["rc_staff"], alert=a)
    with pytest.raises(ConflictError):
        alert_acknowledge(actor=town.users["rc_staff"], alert=Alert.objects.get(pk=a.pk))


def test_viewer_without_handle_capability_cannot_acknowledge(town):
    with pytest.raises(PermissionDeniedError):
        alert_acknowledge(actor=town.users["leader"], alert=_raise(town))


def test_alerts_api_lists_and_acts(town, client_for):
    a = _raise(town)
    c = client_for(town.users["dispatcher"])
    assert [x["id"] for x in c.get("/api/v1/alerts").json()["items"]] == [a.pk]
    r = c.post(f"/api/v1/alerts/{a.pk}/acknowledge")
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"


def test_notifications_arrive_after_commit_only(town, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify(users=[town.users["rc_staff"]], title="新预警", body="13812345678 来电")
    assert Notification.objects.filter(recipient=town.users["rc_staff"]).count() == 1
