import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError

from jiedao.kernel.audit import audit_record, audit_verify
from jiedao.kernel.models import AuditRecord, Subdistrict


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


@pytest.mark.django_db(transaction=True)
def test_a_record_chained_onto_a_head_that_moved_is_chained_again(monkeypatch, settings):
    """Decision 0016: with commit=True on PostgreSQL the head is read without the append lock, which only the last
    message takes; a record appended in between (here by another connection) takes the seq, and the record is
    chained onto the new head under the lock instead — nothing of the caller's transaction is lost."""
    import threading

    from django.db import connections

    from jiedao.kernel import audit
    from jiedao.kernel.rows import Batch

    if connection.vendor != "postgresql":
        pytest.skip("the lock is PostgreSQL's")
    settings.PG_PREPARED_STATEMENTS = False  # the statements' texts in the messages, not EXECUTE jiedao_N
    audit_record(actor=None, action="test.first")
    real, calls = audit._chained, []

    def chained(values, head):
        calls.append(head[0][0] if head else 0)
        if len(calls) == 1:  # between the head read and the final message: another writer appends
            def other():
                try:
                    audit_record(actor=None, action="test.between")
                finally:
                    connections.close_all()

            t = threading.Thread(target=other)
            t.start()
            t.join()
        return real(values, head)

    monkeypatch.setattr(audit, "_chained", chained)
    sent = []
    with transaction.atomic():
        writes = Batch()
        writes.insert(Subdistrict(code="310110998", name="测试街道"))
        with connection.execute_wrapper(lambda execute, sql, *rest: sent.append(sql) or execute(sql, *rest)):
            record = audit_record(actor=None, action="test.moved", batch=writes, commit=True)
    # ours read seq 1; "test.between" (the other thread) chained onto 1 as well and took seq 2; ours, again, onto 2
    assert calls == [1, 1, 2]
    assert [r.action for r in AuditRecord.objects.order_by("seq")] == ["test.first", "test.between", "test.moved"]
    assert record.seq == 3 and audit_verify() == []
    assert Subdistrict.objects.filter(code="310110998").exists()  # the caller's write committed with the record
    assert "pg_advisory_xact_lock" not in sent[0] and "pg_advisory_xact_lock" in sent[1]  # no lock over the read
    assert "ROLLBACK TO SAVEPOINT" in sent[2] and sent[3].endswith("COMMIT")


def test_the_logs_day_filters_take_whole_days_in_shanghai_time(town):
    """since/until are days in Shanghai time, compared as moments (so that (subdistrict, created_at) serves them)."""
    import datetime as dt

    from jiedao.kernel.selectors import audit_list

    for n, moment in enumerate(["2026-11-26T15:59:59.999999", "2026-11-26T16:00:00", "2026-11-27T15:59:59.999999",
                                "2026-11-27T16:00:00"]):
        AuditRecord.objects.create(seq=10**9 + n, created_at=dt.datetime.fromisoformat(moment).replace(tzinfo=dt.UTC),
                                   action=f"test.day{n}", mac="m")
    user = town.users["audit_admin"]
    day = dt.date(2026, 11, 27)
    got = audit_list(user=user, action="test.day", since=day, until=day)
    assert sorted(r.action for r in got) == ["test.day1", "test.day2"]
    assert sorted(r.action for r in audit_list(user=user, action="test.day", since=day)) == [
        "test.day1", "test.day2", "test.day3"]
    assert sorted(r.action for r in audit_list(user=user, action="test.day", until=day - dt.timedelta(days=1))) == [
        "test.day0"]
