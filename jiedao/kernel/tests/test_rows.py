"""row_insert / row_get give the rows and objects that save() and get() give."""

import datetime as dt
import json

import pytest
from django.db.models import signals

from jiedao.kernel.models import AuditRecord, Subdistrict
from jiedao.kernel.rows import Batch, row_get, row_insert

pytestmark = pytest.mark.django_db


def _values(model, pk):
    return model.objects.filter(pk=pk).values().get()


def test_row_insert_writes_what_save_writes():
    sub = Subdistrict.objects.create(code="310110999", name="测试街道")
    at = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)
    fields = {"seq": 10**9, "created_at": at, "subdistrict": sub, "action": "test.rows", "object_type": "x",
              "object_id": "1", "changes": {"名称": [None, "新"], "n": [1, 2]}, "mac": "m" * 64}
    by_save = AuditRecord(**fields)
    by_save.save()
    by_row = row_insert(AuditRecord(**{**fields, "seq": 10**9 + 1}))
    assert by_row.pk and not by_row._state.adding and by_row._state.db == "default"
    a, b = _values(AuditRecord, by_save.pk), _values(AuditRecord, by_row.pk)
    assert {k: v for k, v in a.items() if k not in ("id", "seq")} == {k: v for k, v in b.items() if k not in ("id", "seq")}


def test_row_get_reads_what_get_reads():
    sub = Subdistrict.objects.create(code="310110998", name="测试街道二")
    got = row_get(Subdistrict, sub.pk)
    orm = Subdistrict.objects.get(pk=sub.pk)
    assert got == orm and not got._state.adding
    assert {f.attname: getattr(got, f.attname) for f in Subdistrict._meta.concrete_fields} == \
           {f.attname: getattr(orm, f.attname) for f in Subdistrict._meta.concrete_fields}
    assert row_get(Subdistrict, 10**9) is None


def test_row_insert_refuses_what_it_cannot_do_like_save():
    sub = Subdistrict.objects.create(code="310110997", name="测试街道三")
    with pytest.raises(ValueError):
        row_insert(sub)  # already has an id

    def receiver(**kwargs):
        pass

    signals.post_save.connect(receiver, sender=AuditRecord)
    try:
        with pytest.raises(TypeError):
            row_insert(AuditRecord(seq=1, created_at=dt.datetime.now(dt.UTC), action="x", mac="m"))
    finally:
        signals.post_save.disconnect(receiver, sender=AuditRecord)


def test_a_batch_runs_its_statements_in_order_and_hands_each_its_rows():
    from django.db import connection

    sub = Subdistrict.objects.create(code="310110996", name="测试街道四")
    seen = {}
    batch = Batch()
    record = AuditRecord(seq=10**9 + 7, created_at=dt.datetime.now(dt.UTC), subdistrict=sub, action="test.batch",
                         mac="m")
    allocated = batch.allocate_id(record)
    assert allocated == (connection.vendor == "postgresql")  # ids are known before the INSERT on PostgreSQL only
    batch.add("SELECT code FROM kernel_subdistrict WHERE id = %s", [sub.pk], lambda rows: seen.update(first=rows))
    batch.run()
    batch.insert(record)
    batch.add("SELECT action FROM kernel_auditrecord WHERE seq = %s", [10**9 + 7],
              lambda rows: seen.update(after=rows))  # sees the INSERT before it in the same batch
    batch.run()
    assert seen == {"first": [("310110996",)], "after": [("test.batch",)]}
    assert record.pk and AuditRecord.objects.get(pk=record.pk).action == "test.batch"


def test_a_failing_statement_stops_the_batch_and_fails_the_transaction():
    from django.db import IntegrityError, transaction

    at = dt.datetime.now(dt.UTC)
    AuditRecord.objects.create(seq=10**9 + 8, created_at=at, action="test.first", mac="m")
    after = []
    with pytest.raises(IntegrityError), transaction.atomic():
        batch = Batch()
        batch.insert(AuditRecord(seq=10**9 + 9, created_at=at, action="test.ok", mac="m"))
        batch.insert(AuditRecord(seq=10**9 + 8, created_at=at, action="test.clash", mac="m"))  # seq is unique
        batch.add("SELECT 1", (), after.extend)
        batch.run()
    assert after == []
    assert not AuditRecord.objects.filter(action__in=["test.ok", "test.clash"]).exists()


def test_the_server_processes_collect_garbage_less_often_unless_told_not_to(monkeypatch):
    import gc

    from jiedao.kernel.serving import tune_gc

    before = gc.get_threshold()
    try:
        tune_gc("default")
        assert gc.get_threshold() == before
        monkeypatch.setenv("JIEDAO_GC_THRESHOLD", "40000,15,50")
        tune_gc()
        assert gc.get_threshold() == (40000, 15, 50) and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


# --- server-side prepared statements (PostgreSQL) -----------------------------------------------------------------
def _postgres_only():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    return connection


def _prepared_on_server(connection) -> dict[str, str]:
    with connection.cursor() as cur:
        cur.execute("SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'jiedao\\_%%'")
        return dict(cur.fetchall())


def _record(seq: int, action: str = "test.prepared") -> AuditRecord:
    return AuditRecord(seq=seq, created_at=dt.datetime.now(dt.UTC), action=action, mac="m")


@pytest.mark.django_db(transaction=True)  # closes the connection: a session of its own
def test_a_statement_is_prepared_once_per_session_and_then_only_executed():
    from django.test.utils import CaptureQueriesContext

    connection = _postgres_only()
    connection.close()
    with CaptureQueriesContext(connection) as first:
        row_insert(_record(10**9 + 20))
    assert first[0]["sql"].startswith("PREPARE jiedao_") and "; EXECUTE jiedao_" in first[0]["sql"]
    name = first[0]["sql"].split()[1]
    with CaptureQueriesContext(connection) as second:
        row_insert(_record(10**9 + 21))
    assert second[0]["sql"] == f"EXECUTE {name}"  # by name, its values bound, not written into the text
    assert "INSERT INTO" in _prepared_on_server(connection)[name]
    assert set(AuditRecord.objects.filter(seq__gte=10**9 + 20).values_list("action", flat=True)) == {"test.prepared"}


def test_a_failed_batch_leaves_no_name_that_a_later_batch_trusts():
    """PREPARE survives a rollback and does not run after a failed statement of its message: a name from a failed
    message may or may not exist, so it is never used again."""
    from django.db import IntegrityError, transaction

    _postgres_only()
    AuditRecord.objects.create(seq=10**9 + 30, created_at=dt.datetime.now(dt.UTC), action="test.first", mac="m")
    for clash_first in (False, True):
        with pytest.raises(IntegrityError), transaction.atomic():
            batch = Batch()
            clash = _record(10**9 + 30, "test.clash")  # seq is unique
            fresh = AuditRecord(seq=10**9 + 31, created_at=dt.datetime.now(dt.UTC), action="test.fresh", mac="m",
                                object_type=f"kind-{clash_first}")
            batch.insert(clash if clash_first else fresh)
            batch.add(f"SELECT seq FROM kernel_auditrecord WHERE action = %s AND seq > {int(clash_first)}",
                      ["test.first"])  # a new text each round: prepared in the failing message (or not reached)
            batch.insert(fresh if clash_first else clash)
            batch.run()
    seen = []
    batch = Batch()
    for clash_first in (False, True):
        batch.add(f"SELECT seq FROM kernel_auditrecord WHERE action = %s AND seq > {int(clash_first)}", ["test.first"],
                  seen.extend)
    batch.run()  # neither "prepared statement already exists" nor "does not exist"
    assert seen == [(10**9 + 30,), (10**9 + 30,)]


@pytest.mark.django_db(transaction=True)
def test_a_new_session_prepares_again():
    connection = _postgres_only()
    row_insert(_record(10**9 + 40))
    connection.close()
    assert _prepared_on_server(connection) == {}
    row_insert(_record(10**9 + 41))  # the statement is prepared anew on the new session
    assert len(_prepared_on_server(connection)) == 1
    assert AuditRecord.objects.filter(seq__in=[10**9 + 40, 10**9 + 41]).count() == 2


def test_percent_signs_and_unprepared_statements_keep_their_meaning(settings):
    from django.test.utils import CaptureQueriesContext

    connection = _postgres_only()
    for prepared in (True, False):
        settings.PG_PREPARED_STATEMENTS = prepared
        got = []
        batch = Batch()
        batch.add("SELECT %s::text LIKE 'a%%', '100%%'", ["abc"], got.extend)
        batch.add("SELECT %s::int + 1", [41], got.extend, prepare=False)
        with CaptureQueriesContext(connection) as q:
            batch.run()
        assert got == [(True, "100%"), (42,)]
        assert ("EXECUTE jiedao_" in q[0]["sql"]) is prepared and "SELECT $1::int + 1" in q[0]["sql"]
        assert "41" not in q[0]["sql"] and "abc" not in q[0]["sql"]


def test_every_value_travels_as_a_parameter_and_comes_back_unchanged():
    """Decision 0018: quotes, backslashes, percent signs, NULL, Chinese, times, numbers, JSON and bytes are bound,
    never spliced into the text: they come back as they went, and the SQL log shows none of them."""
    from decimal import Decimal

    from django.test.utils import CaptureQueriesContext
    from psycopg.types.json import Jsonb
    from psycopg.types.numeric import Int2, Int4, Int8

    connection = _postgres_only()
    at = dt.datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=dt.UTC)
    values = ["it''s'", "x'); DROP TABLE t; --", -1, 0, 2**70, -2**70, "it's", "back\\slash \\' end", "100%", "%s",
              None, "街道 \u2028 新江湾城", "", 7, -2**40, 3.25, True, Decimal("12.50"), at, dt.date(2028, 2, 29),
              Jsonb({"a": ["'", "\\", None]}), b"\x00\xff", -0.0, 31.330123456789, float("inf"),
              at.astimezone(dt.timezone(dt.timedelta(hours=8))), Int2(3), Int4(-5), Int8(2**40)]
    casts = ["text", "text", "int", "int", "numeric", "numeric",
             "text", "text", "text", "text", "text", "text", "text", "int", "bigint", "float8", "bool", "numeric",
             "timestamptz", "date", "jsonb", "bytea", "float8", "float8", "float8", "timestamptz", "int2", "int4",
             "int8"]
    for prepared in (True, False):
        got = []
        batch = Batch()
        batch.add("SELECT " + ", ".join(f"%s::{c}" for c in casts), values, got.extend, prepare=prepared)
        with CaptureQueriesContext(connection) as q:
            batch.run()
        row = list(got[0])
        row[20] = json.loads(row[20])  # Django's connection reads jsonb as text; the field decodes it
        assert [bytes(v) if isinstance(v, memoryview) else v for v in row] == [
            *values[:20], {"a": ["'", "\\", None]}, *values[21:]]
        assert "DROP TABLE" not in q[0]["sql"] and "新江湾城" not in q[0]["sql"] and "$29::int8" in q[0]["sql"]


def test_a_value_the_adapters_refuse_fails_before_anything_is_sent():
    import psycopg
    from django.db import DataError, transaction

    connection = _postgres_only()
    with pytest.raises(DataError) as caught, transaction.atomic():
        batch = Batch()
        batch.insert(_record(10**9 + 70))
        batch.add("SELECT %s::text", ["a\x00b"])  # PostgreSQL text cannot hold NUL
        batch.run()
    assert isinstance(caught.value.__cause__, psycopg.DataError)
    assert not AuditRecord.objects.filter(seq=10**9 + 70).exists()  # the session is fine and nothing was written
    assert connection.connection.pgconn.pipeline_status == 0


def test_prepared_statements_follow_the_setting(settings):
    _postgres_only()
    assert Batch().prepared and Batch().one_trip
    settings.PG_PREPARED_STATEMENTS = False
    assert not Batch().prepared and Batch().one_trip  # still one round trip, each statement unnamed


@pytest.mark.django_db(transaction=True)
def test_a_batch_ends_a_transaction_only_at_the_end_of_an_outermost_block():
    from django.db import transaction

    connection = _postgres_only()
    with pytest.raises(ValueError, match="outermost"):
        batch = Batch()
        batch.add("SELECT 1")
        batch.run(commit=True)  # no transaction to end
    with transaction.atomic(), transaction.atomic(savepoint=False), pytest.raises(ValueError, match="outermost"):
        batch = Batch()
        batch.add("SELECT 1")
        batch.run(commit=True)  # a nested block: the outer one may still have statements to run
    with transaction.atomic():
        row_insert(_record(10**9 + 50))
        batch = Batch()
        batch.add("SELECT 1")
        batch.run(commit=True)
        assert connection.connection.info.transaction_status == 0  # IDLE: the message ended the transaction
    other = connection.copy()
    try:
        with other.cursor() as cur:
            cur.execute("SELECT count(*) FROM kernel_auditrecord WHERE seq = %s", [10**9 + 50])
            assert cur.fetchone() == (1,)
    finally:
        other.close()


def _seen_by_another_session(connection, seq: int) -> int:
    other = connection.copy()
    try:
        with other.cursor() as cur:
            cur.execute("SELECT count(*) FROM kernel_auditrecord WHERE seq = %s", [seq])
            return cur.fetchone()[0]
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_opens_its_blocks_transaction_sends_the_begin_itself(psycopg_commands):
    """Decision 0013: no round trip of psycopg's own for BEGIN; the block still commits, or rolls back, as a whole."""
    from django.db import transaction
    from django.test.utils import CaptureQueriesContext

    connection = _postgres_only()
    sent = psycopg_commands()
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        row_insert(_record(10**9 + 60))
        row_insert(_record(10**9 + 61))  # already in the transaction: no second BEGIN
    messages = [q["sql"] for q in queries if q["sql"] not in ("BEGIN", "COMMIT")]  # Django logs those itself
    assert [sql.startswith("BEGIN; ") for sql in messages] == [True, False]
    assert sent == [b"COMMIT"]  # the block's exit commits as always
    assert connection.connection.autocommit and connection.get_autocommit()  # as after any block
    assert _seen_by_another_session(connection, 10**9 + 61) == 1

    sent.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        row_insert(_record(10**9 + 62))
        raise RuntimeError
    assert sent == [b"ROLLBACK"] and _seen_by_another_session(connection, 10**9 + 62) == 0

    sent.clear()
    from django.db import IntegrityError

    with pytest.raises(IntegrityError), transaction.atomic():
        batch = Batch()
        batch.insert(_record(10**9 + 63))
        batch.insert(_record(10**9 + 63))  # the same seq twice: the message fails after its BEGIN
        batch.run()
    assert sent == [b"ROLLBACK"] and _seen_by_another_session(connection, 10**9 + 63) == 0
    with connection.cursor() as cur:  # the session is usable again, in autocommit
        cur.execute("SELECT 1")
    assert connection.connection.info.transaction_status == 0


@pytest.mark.django_db(transaction=True)
def test_a_batch_begins_with_the_options_psycopg_would_begin_with(psycopg_commands):
    from django.db import transaction
    from django.test.utils import CaptureQueriesContext

    connection = _postgres_only()
    sent = psycopg_commands()
    connection.connection.read_only = False  # psycopg would begin with "BEGIN READ WRITE"
    connection.connection.deferrable = False
    try:
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            row_insert(_record(10**9 + 64))
            with connection.cursor() as cur:  # a statement of Django's own later in the block: no second BEGIN
                cur.execute("SELECT count(*) FROM kernel_auditrecord WHERE seq = %s", [10**9 + 64])
                assert cur.fetchone() == (1,)
    finally:
        connection.connection.read_only = None
        connection.connection.deferrable = None
    messages = [q["sql"] for q in queries if q["sql"] not in ("BEGIN", "COMMIT")]  # Django logs those itself
    assert messages[0].startswith("BEGIN READ WRITE NOT DEFERRABLE; PREPARE jiedao_")
    assert sent == [b"COMMIT"] and _seen_by_another_session(connection, 10**9 + 64) == 1


@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
def test_the_short_way_to_prepare_a_value_gives_what_the_field_gives_for_every_field_of_every_model():
    """kernel.rows passes some values through without the field's methods (``_preparer``): for every concrete field
    of every model and values of many kinds (naive and aware times, enums, numbers as text, …) it gives what
    ``get_db_prep_save(pre_save())`` gives, or fails as that fails."""
    import decimal
    import uuid

    from django.apps import apps
    from django.db import connection

    from jiedao.cases.choices import CaseState
    from jiedao.kernel.rows import _preparer

    at = dt.datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=dt.UTC)
    values = [None, "", "x'y", "12", "2026-11-27 09:30", "街道", 0, -3, 2**40, 1.5, -0.0, True, False, at,
              at.replace(tzinfo=None), at.astimezone(dt.timezone(dt.timedelta(hours=8))), dt.date(2026, 2, 28),
              dt.time(9, 30), dt.timedelta(hours=2), decimal.Decimal("1.50"), uuid.UUID(int=7), CaseState.REPORTED,
              {"a": [1, None]}, [1, 2], b"\x00\xff"]

    def outcome(prepare):
        try:
            got = prepare()
        except Exception as exc:  # noqa: BLE001
            return ("raises", type(exc))
        inner = getattr(got, "obj", got)  # psycopg's Json/Jsonb wrappers compare by what they wrap
        return type(got), inner if not isinstance(inner, float) else repr(inner)

    compared = shortened = 0
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.generated:
                continue
            prep = _preparer(field, connection)
            short = prep.__qualname__.startswith("_preparer.")
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                assert not short  # the time is set on save; the full path it is (and two calls give two times)
                continue
            shortened += short
            for value in values:
                obj = model()
                setattr(obj, field.attname, value)
                before = obj.__dict__.copy()
                full = outcome(lambda: field.get_db_prep_save(field.pre_save(obj, add=True), connection=connection))
                obj.__dict__.update(before)  # pre_save may set the attribute (auto_now): start from the same state
                again = outcome(lambda: field.get_db_prep_save(field.pre_save(obj, add=True), connection=connection))
                obj.__dict__.update(before)
                if again != full:  # encrypted with a fresh nonce each time: nothing to compare, nothing to shorten
                    assert not short, (model, field.name)
                    continue
                assert outcome(lambda: prep(obj)) == full, (model, field.name, value)
                compared += 1
    assert compared > 5000 and shortened > 200  # the comparison reached the fields the short way serves


@pytest.mark.django_db(transaction=True)
def test_a_batch_runs_nothing_in_a_transaction_marked_for_rollback():
    """As Django's cursor refuses: above all, the batch's COMMIT must not commit what the block will roll back."""
    from django.db import transaction
    from django.db.transaction import TransactionManagementError

    connection = _postgres_only()
    with transaction.atomic():
        transaction.set_rollback(True)
        batch = Batch()
        batch.insert(_record(10**9 + 80))
        with pytest.raises(TransactionManagementError):
            batch.run(commit=True)
    assert _seen_by_another_session(connection, 10**9 + 80) == 0


def test_a_batch_refuses_a_wrong_number_of_values_before_sending(settings):
    from django.db import ProgrammingError

    _postgres_only()
    for sql, values in (("SELECT %s::int", [1, 2]), ("SELECT %s::int, %s::int", [1])):
        batch = Batch()
        batch.add(sql, values)
        with pytest.raises(ProgrammingError, match="placeholders"):
            batch.run()
    seen = []
    batch = Batch()
    batch.add("SELECT %s::int + 1", [1], seen.extend)
    batch.run()  # the session is fine
    assert seen == [(2,)]


def test_a_value_keeps_its_type_where_the_statement_does_not_give_one():
    """A time goes as timestamptz, as the quoted literal did ('…'::timestamptz): cast to a plain timestamp it is
    converted to the session's zone, not stripped of its offset."""
    _postgres_only()
    at = dt.datetime(2026, 11, 27, 21, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    got = []
    batch = Batch()
    batch.add("SELECT %s::timestamp, %s::date, %s::text", [at, dt.date(2026, 2, 28), at], got.extend)
    batch.run()
    assert got[0][0] == dt.datetime(2026, 11, 27, 13, 0) and got[0][1] == dt.date(2026, 2, 28)


def test_a_list_of_small_integers_does_not_fix_the_type_of_a_prepared_statement():
    """psycopg sends [1, 2] as int2[]: had the session's Parse kept that type, a later list with a large number
    would be out of range for the same prepared statement."""
    _postgres_only()
    got = []
    for cells in ([1, 2], [2**40, -3], [7]):
        batch = Batch()
        batch.add("SELECT sum(c)::bigint FROM unnest(%s::bigint[]) AS t(c)", [cells], got.extend)
        batch.run()
    assert got == [(3,), (2**40 - 3,), (7,)]
