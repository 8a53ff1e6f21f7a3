import datetime as dt

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
    import io

    assert AuditRecord.objects.count() > 10
    assert audit_verify() == []
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    last = AuditRecord.objects.order_by("-id").first()  # one test, one writer: one lane
    assert f"anchor lane {last.lane} seq {last.seq} mac {last.mac}" in out.getvalue()  # what to ship outside


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


def _append_in_thread(action):
    import threading

    from django.db import connections

    done = threading.Event()

    def other():
        try:
            audit_record(actor=None, action=action)
            done.set()
        finally:
            connections.close_all()

    t = threading.Thread(target=other, daemon=True)
    t.start()
    return t, done


@pytest.mark.django_db(transaction=True)
def test_a_writer_keeps_its_lane_and_another_writer_takes_a_free_one_without_waiting():
    """Decision 0017: a transaction's records go to the lane it locked first; a concurrent writer appends to another
    lane at once instead of waiting for that transaction's commit."""
    if connection.vendor != "postgresql":
        pytest.skip("lanes are PostgreSQL's; SQLite has one writer")
    with transaction.atomic():
        first = audit_record(actor=None, action="test.first")
        second = audit_record(actor=None, action="test.second")
        t, done = _append_in_thread("test.meanwhile")
        assert done.wait(10), "the other writer waited for a lane"
        t.join()
    assert (second.lane, second.seq, second.prev_mac) == (first.lane, 2, first.mac)
    other = AuditRecord.objects.get(action="test.meanwhile")
    assert other.lane != first.lane and other.seq == 1 and other.prev_mac == ""
    assert audit_verify() == []
    import io

    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    anchors = [line for line in out.getvalue().splitlines() if line.startswith("anchor")]
    assert sorted(anchors) == sorted([f"anchor lane {first.lane} seq 2 mac {second.mac}",
                                      f"anchor lane {other.lane} seq 1 mac {other.mac}"])


@pytest.mark.django_db(transaction=True)
def test_with_every_lane_taken_a_writer_waits_and_chains_onto_the_lanes_last_record(settings):
    if connection.vendor != "postgresql":
        pytest.skip("lanes are PostgreSQL's; SQLite has one writer")
    settings.AUDIT_LANES = 1
    with transaction.atomic():
        first = audit_record(actor=None, action="test.first")
        t, done = _append_in_thread("test.waited")
        assert not done.wait(0.5)  # lane 0 is ours until we commit
    t.join(10)
    waited = AuditRecord.objects.get(action="test.waited")
    assert (waited.lane, waited.seq, waited.prev_mac) == (0, 2, first.mac)
    assert audit_verify() == []


def _lane_locks() -> list[int]:
    from jiedao.kernel.audit import _ADVISORY_LOCK_ID

    with connection.cursor() as cur:
        cur.execute("SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                    " AND classid = %s AND objsubid = 2", [_ADVISORY_LOCK_ID])
        return sorted(int(lane) for (lane,) in cur.fetchall())


@pytest.mark.django_db(transaction=True)
def test_a_transaction_holds_exactly_one_lane_and_nothing_after_it():
    """The lane statement takes one lock and names it for this transaction only: a second record reuses it, the
    next transaction locks again, and a value of the setting made for the session is not taken for a held lock."""
    if connection.vendor != "postgresql":
        pytest.skip("lanes are PostgreSQL's")
    with transaction.atomic():
        first = audit_record(actor=None, action="test.one")
        assert _lane_locks() == [first.lane]
        audit_record(actor=None, action="test.two")
        assert _lane_locks() == [first.lane]  # reused, no second lane
    assert _lane_locks() == []
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('jiedao.audit_lane', true)")
        assert cur.fetchone()[0] in ("", None)  # local to the transaction
        cur.execute("SET jiedao.audit_lane = '0:5'")  # as a role's or database's setting would be
    with transaction.atomic():
        third = audit_record(actor=None, action="test.three")
        assert _lane_locks() == [third.lane]  # locked, not trusted from the setting
    assert audit_verify() == []


@pytest.mark.django_db(transaction=True)
def test_a_record_rolled_back_with_its_savepoint_is_not_chained_onto():
    with transaction.atomic():
        kept = audit_record(actor=None, action="test.kept")
        with pytest.raises(RuntimeError), transaction.atomic():
            audit_record(actor=None, action="test.undone")
            raise RuntimeError
        after = audit_record(actor=None, action="test.after")
    assert (after.lane, after.seq, after.prev_mac) == (kept.lane, kept.seq + 1, kept.mac)
    assert not AuditRecord.objects.filter(action="test.undone").exists()
    assert audit_verify() == []


def test_a_writer_under_another_isolation_level_than_read_committed_is_refused(db, monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer and no isolation levels to choose")
    connection.ensure_connection()
    from psycopg import IsolationLevel

    monkeypatch.setattr(connection, "isolation_level", IsolationLevel.REPEATABLE_READ)
    with pytest.raises(ImproperlyConfigured):
        audit_record(actor=None, action="test.refused")


def test_a_records_lane_is_part_of_its_mac_and_lane_0_keeps_the_mac_it_had_before_lanes():
    from jiedao.kernel.audit import canonical, compute_mac

    values = {"seq": 3, "created_at": dt.datetime(2026, 11, 27, tzinfo=dt.UTC), "action": "x", "prev_mac": "p"}
    assert b'"lane"' not in canonical({**values, "lane": 0})
    assert compute_mac({**values, "lane": 0}) == compute_mac(values)
    assert compute_mac({**values, "lane": 2}) != compute_mac({**values, "lane": 3})


@pytest.mark.django_db(transaction=True)
def test_verify_names_the_lane_of_a_removed_record(settings):
    """A record removed from one lane breaks that lane's chain; the others verify."""
    if connection.vendor != "postgresql":
        pytest.skip("lanes are PostgreSQL's")
    for n in range(3):
        audit_record(actor=None, action=f"test.a{n}")
    with transaction.atomic():
        held = audit_record(actor=None, action="test.held")
        t, done = _append_in_thread("test.b0")
        assert done.wait(10)
        t.join()
    other = AuditRecord.objects.get(action="test.b0")
    audit_record(actor=None, action="test.a3")
    victim = AuditRecord.objects.get(action="test.a1")
    _tamper("DELETE FROM kernel_auditrecord WHERE id = %s", [victim.pk])
    problems = audit_verify()
    assert problems and {p.lane for p in problems} == {held.lane} and other.lane != held.lane
    assert problems[0].seq == victim.seq


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
