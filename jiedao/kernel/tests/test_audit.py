import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError

from jiedao.kernel.audit import audit_record, audit_verify
from jiedao.kernel.models import AuditRecord


def _tamper(sql, params):
    with connection.cursor() as cur:
        # An attacker with database superuser rights can bypass the trigger; the chain still tells.
        if connection.vendor == "postgresql":
            cur.execute("SET session_replication_role = replica")
        cur.execute(sql, params)
        if connection.vendor == "postgresql":
            cur.execute("SET session_replication_role = DEFAULT")


def test_chain_of_untouched_log_verifies(town):
    assert AuditRecord.objects.count() > 10
    assert audit_verify() == []
    call_command("verify_audit")


def test_altered_record_is_named_exactly(town):
    victim = AuditRecord.objects.order_by("seq")[5]
    _tamper("UPDATE kernel_auditrecord SET reason = %s WHERE id = %s", ["改过了", victim.pk])
    problems = audit_verify()
    assert [p.seq for p in problems] == [victim.seq]
    with pytest.raises(CommandError, match=f"seq {victim.seq} "):
        call_command("verify_audit")


def test_removed_record_is_found(town):
    victim = AuditRecord.objects.order_by("seq")[3]
    _tamper("DELETE FROM kernel_auditrecord WHERE id = %s", [victim.pk])
    problems = audit_verify()
    assert problems[0].seq == victim.seq


def test_postgres_trigger_refuses_update_and_delete(town):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only")
    record = AuditRecord.objects.first()
    for sql in ("UPDATE kernel_auditrecord SET reason = 'x' WHERE id = %s", "DELETE FROM kernel_auditrecord WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [record.pk])


def test_changed_encrypted_fields_appear_only_masked(town, client_for):
    person = town.people["p1"]
    from jiedao.people.services import person_update

    person_update(actor=town.users["rc_staff"], person=person, expected_version=person.version, phone="13700000009")
    record = AuditRecord.objects.filter(action="person.update").latest("seq")
    assert record.changes["phone"] == ["138****0001", "137****0009"]
    flat = str(AuditRecord.objects.values_list("changes", flat=True)[::1])
    assert "13700000009" not in flat and person.id_number not in flat


def test_record_carries_request_context(town, client_for):
    c = client_for(town.users["rc_staff"])
    c.post(f"/people/{town.people['p1'].pk}/reveal/", {"field": "phone", "reason": "核实身份"},
           HTTP_USER_AGENT="pytest-agent", HTTP_X_REQUEST_ID="req-123")
    record = AuditRecord.objects.get(action="person.reveal")
    assert record.reason == "核实身份" and record.user_agent == "pytest-agent" and record.request_id == "req-123"
    assert record.actor_role == "rc_staff" and record.actor_org_unit == "一居委" and record.ip == "127.0.0.1"


def test_retention_below_six_months_fails_the_system_check(settings):
    from jiedao.kernel.apps import check_audit_retention

    settings.AUDIT_RETENTION_DAYS = 183
    assert [e.id for e in check_audit_retention(None)] == ["jiedao.E001"]
    settings.AUDIT_RETENTION_DAYS = 184
    assert check_audit_retention(None) == []


def test_audit_record_without_actor(db):
    record = audit_record(actor=None, action="system.test")
    assert record.seq == 1 and record.prev_mac == ""


@pytest.mark.django_db(transaction=True)
def test_an_audit_record_commits_only_at_the_end_of_its_callers_transaction():
    with pytest.raises(ValueError, match="caller's transaction"):
        audit_record(actor=None, action="test.commit", commit=True)
    with transaction.atomic():
        record = audit_record(actor=None, action="test.commit", commit=True)
    assert record.pk and AuditRecord.objects.filter(pk=record.pk, action="test.commit").exists()
    assert audit_verify() == []
