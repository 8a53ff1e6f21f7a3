"""One-row INSERT and SELECT by id for hot paths, with the SQL built once per model instead of on every call.

``Model.save()`` and ``QuerySet.get()`` compile their query anew each time; on case intake that compilation was
a third of the Python time per case (bench/case_intake.py, docs/decisions/0010-intake-round-trips.md). These
helpers build the statement once per model and connection from the model's own ``_meta`` and pass every value
through the field's ``get_db_prep_save`` and every result through the same converters the ORM uses, so the rows
written and the objects read are the ones ``save()`` and ``get()`` would give (kernel/tests/test_rows.py compares
them). Two things they do not do, so use them only where neither matters:

- no ``pre_save``/``post_save`` signals (``row_insert`` refuses a model that has receivers for them);
- no multi-table inheritance, no ORM expressions as values (SQL text through ``expressions=``), no ``db_default``.
"""

from __future__ import annotations

import functools
import re
from contextlib import nullcontext
from datetime import UTC, datetime

from django.conf import settings
from django.db import connections, models, router
from django.db.models import Model, signals
from psycopg.pq import ExecStatus


def _plans(connection) -> dict:
    """Statements and converters, kept on the connection object: the converters are the backend's bound methods."""
    plans = getattr(connection, "_jiedao_row_plans", None)
    if plans is None:
        plans = connection._jiedao_row_plans = {}
    return plans


def _converters(fields, connection) -> list:
    out = []
    for field in fields:
        col = field.get_col(field.model._meta.db_table)
        out.append((col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
    return out


def _convert(values, converters, connection) -> list:
    result = []
    for value, (col, fns) in zip(values, converters, strict=True):
        for fn in fns:
            value = fn(value, col, connection)
        result.append(value)
    return result


# Django's field classes (exactly these, not subclasses) that decide by a value's type alone whether to change it
# (``_preparer``), and values of each plain type to probe them with: a type passes only if all of its do.
_SHORT_FIELDS = frozenset({
    models.CharField, models.TextField, models.FloatField, models.BooleanField, models.IntegerField,
    models.SmallIntegerField, models.BigIntegerField, models.PositiveIntegerField, models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField, models.DateTimeField, models.ForeignKey, models.OneToOneField})
_PLAIN_SAMPLES = (None, "", "街道 x", "12", 0, 7, -3, 2.5, -0.0, True, False)
_AWARE_SAMPLES = (datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC).astimezone())


def _full_preparer(field, connection):
    def prep(obj):
        value = field.pre_save(obj, add=True)
        if hasattr(value, "resolve_expression"):
            raise TypeError(f"row_insert: {field.name} holds an expression; use save()")
        return field.get_db_prep_save(value, connection=connection)

    return prep


def _unchanged(field, sample, connection) -> bool:
    try:
        return field.get_db_prep_save(sample, connection=connection) is sample
    except Exception:  # noqa: BLE001 (a type the field refuses is simply not passed through)
        return False


def _preparer(field, connection):
    """``field.get_db_prep_save(field.pre_save(obj, add=True))`` as one function of the instance, shortened for the
    values a field writes as they are. Django's own fields decide by the value's type what to do with it (a
    CharField keeps a str, a key an int, most fields None; on PostgreSQL a DateTimeField keeps a datetime with a
    time zone, but makes a naive one aware), so probes per type tell which types pass unchanged, and those values
    skip four or five method calls (a case has 34 fields). Every other value, and every other field (a subclass,
    ``auto_now``), takes the full path; test_rows compares the two for every field of every model."""
    full = _full_preparer(field, connection)
    if type(field) not in _SHORT_FIELDS or getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return full
    types = {type(s) for s in _PLAIN_SAMPLES}
    same = frozenset(t for t in types if all(_unchanged(field, s, connection) for s in _PLAIN_SAMPLES if type(s) is t))
    aware = all(_unchanged(field, s, connection) for s in _AWARE_SAMPLES)
    if not same and not aware:
        return full
    attname = field.attname

    def prep(obj):
        value = getattr(obj, attname)  # what Field.pre_save returns for a field without auto_now
        t = type(value)
        if t in same or (aware and t is datetime and value.tzinfo is not None):
            return value
        return full(obj)

    return prep


def _insert_plan(model: type[Model], connection, *, with_pk: bool, expressions: tuple = (), returns: tuple = ()):
    """``expressions``: (attname, SQL) pairs that stand for the field's placeholder; ``returns``: attnames to read
    back beside the database-computed ones."""
    key = ("insert", model, with_pk, expressions, returns)
    plans = _plans(connection)
    if key not in plans:
        meta = model._meta
        if meta.parents:
            raise TypeError(f"row_insert: {meta.label} inherits from another model")
        fields = [f for f in meta.local_concrete_fields
                  if not f.generated and (with_pk or f is not meta.auto_field)]
        returning = [f for f in meta.db_returning_fields if not (with_pk and f is meta.auto_field)]
        returning += [meta.get_field(name) for name in returns if meta.get_field(name) not in returning]
        sql_of = dict(expressions)
        qn = connection.ops.quote_name
        sql = (f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "  # noqa: S608 (names from _meta)
               f"VALUES ({', '.join(sql_of.get(f.attname, '%s') for f in fields)})")
        if returning:
            sql += " " + connection.ops.return_insert_columns(returning)[0]
        plans[key] = (sql, [(f.attname, _preparer(f, connection)) for f in fields], returning,
                      _converters(returning, connection))
    return plans[key]


def _insert_statement(obj: Model, connection, using: str, expressions: dict | None = None, returns: tuple = ()):
    """The INSERT of ``obj`` and a function that takes its RETURNING rows and completes ``obj``. ``expressions``
    maps an attname to ``(sql, params)``: the database computes that column (in the same statement, so it may read
    what earlier statements of a batch wrote); ``returns`` names fields to set from the row written."""
    model = type(obj)
    if signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model):
        raise TypeError(f"row_insert: {model._meta.label} has save signal receivers; use save()")
    if not obj._state.adding:
        raise ValueError("row_insert: the instance is already in the database")
    expressions = expressions or {}
    sql, preparers, returning, converters = _insert_plan(
        model, connection, with_pk=obj.pk is not None, returns=tuple(returns),
        expressions=tuple((name, expr[0]) for name, expr in expressions.items()))
    params = []
    for attname, prep in preparers:
        if attname in expressions:
            params.extend(expressions[attname][1])
        else:
            params.append(prep(obj))

    def complete(rows):
        if returning:
            for field, value in zip(returning, _convert(rows[0], converters, connection), strict=True):
                setattr(obj, field.attname, value)
        obj._state.adding = False
        obj._state.db = using

    complete.returns_rows = bool(returning)
    return sql, params, complete


def row_insert(obj: Model, *, using: str | None = None, expressions: dict | None = None, returns=()) -> Model:
    """INSERT ``obj`` (a new instance; its id may be pre-allocated, see ``Batch.allocate_id``) and set its id and
    database-computed fields, as ``obj.save(force_insert=True)`` would. ``expressions``, ``returns``: as
    ``Batch.insert``."""
    batch = Batch(using or router.db_for_write(type(obj), instance=obj))
    batch.insert(obj, expressions=expressions, returns=returns)
    batch.run()
    return obj


_PLACEHOLDER = re.compile(r"%%|%s")
MAX_PREPARED = 200  # per connection; a statement beyond it runs unprepared


_INTEGER_OIDS = frozenset({20, 21, 23, 1016, 1005, 1007})  # int8, int2, int4 and their arrays


@functools.lru_cache(maxsize=1024)  # a batch's statements are a few fixed texts, numbered on every run
def _numbered(sql: str) -> tuple[str, int]:
    """``%s`` placeholders as PostgreSQL's ``$1``, ``$2``…, ``%%`` as ``%``; and the number of placeholders."""
    numbers = iter(range(1, len(sql) + 1))
    text = _PLACEHOLDER.sub(lambda m: "%" if m.group() == "%%" else f"${next(numbers)}", sql)
    return text, next(numbers) - 1


class _Prepared:
    """The statements prepared on one PostgreSQL session (protocol-level Parse; they live as long as the session).

    A batch parses a statement under a name the first time its text is seen on the session and only binds and
    executes that name after that, in the same one round trip: the server skips parsing and planning (a third of
    its time per intake, docs/decisions/0011-prepared-batches.md). A prepared statement is not undone by a rollback,
    and a Parse after a failed statement of the same pipeline is skipped, so a name is trusted only once the
    pipeline that prepared it succeeded; names are never reused, so a doubtful one is simply abandoned.
    """

    def __init__(self, raw):
        self.raw = raw  # the psycopg connection: a reconnect starts a session without the statements
        self.names: dict[str, str] = {}
        self.counter = 0

    @classmethod
    def of(cls, connection) -> _Prepared:
        state = getattr(connection, "_jiedao_prepared", None)
        if state is None or state.raw is not connection.connection:
            state = connection._jiedao_prepared = cls(connection.connection)
        return state

    def name(self, sql: str, pending: dict) -> tuple[str | None, bool]:
        """The name to execute ``sql`` under and whether it must be parsed first; (None, False) when the session
        already has as many as it may keep (the statement then runs unnamed)."""
        name = self.names.get(sql) or pending.get(sql)
        if name is not None:
            return name, False
        if len(self.names) + len(pending) >= MAX_PREPARED:
            return None, False
        self.counter += 1
        name = pending[sql] = f"jiedao_{self.counter}"
        return name, True


class Batch:
    """Statements whose results are not needed before the last of them: on PostgreSQL sent in one round trip.

    On PostgreSQL the statements go out as one pipeline (libpq's pipeline mode, one write and one Sync): each with
    its values as bound parameters, never spliced into the text, so neither the server's log of a failed
    statement nor Django's SQL log carries them (decision 0018). Each statement runs in order with its own
    snapshot (READ COMMITTED); a failing one aborts the rest and the transaction, as it would one by one. SQLite,
    where a "round trip" is a function call, runs them one by one. A statement's ``on_result`` receives its rows
    during ``run()``.
    """

    def __init__(self, using: str = "default"):
        self.using = using
        self.connection = connections[using]
        self.items: list[tuple[str, list, object, bool]] = []

    @property
    def one_trip(self) -> bool:
        return self.connection.vendor == "postgresql"

    @property
    def prepared(self) -> bool:
        """Statements go through named prepared statements (off behind a transaction-mode pooler such as
        PgBouncer before 1.21, where the next transaction may run on another session: JIEDAO_PG_PREPARE=0)."""
        return self.one_trip and getattr(settings, "PG_PREPARED_STATEMENTS", True)

    def add(self, sql: str, params=(), on_result=None, *, prepare: bool = True) -> None:
        """``on_result``, if given, gets the statement's rows: give it only for a statement that returns some.
        ``prepare=False`` for a query whose best plan depends on its values: a prepared statement soon runs one
        generic plan for all values (PostgreSQL's plan_cache_mode=auto), planned without knowing them."""
        self.items.append((sql, list(params), on_result, prepare))

    def add_first(self, sql: str, params=(), on_result=None, *, prepare: bool = True) -> None:
        """Like ``add``, before the statements already added (for a lock that must precede their row locks)."""
        self.items.insert(0, (sql, list(params), on_result, prepare))

    def extend(self, other: Batch) -> None:
        """Add ``other``'s statements after these; ``other`` keeps them (it may be added again, to a retry)."""
        self.items.extend(other.items)

    def insert(self, obj: Model, *, expressions: dict | None = None, returns=()) -> None:
        """INSERT ``obj``; its id and computed fields are set by ``run()`` (a later statement of the batch refers to
        the new id through SQL — ``currval`` on PostgreSQL — or the id is pre-allocated). ``expressions`` maps an
        attname to ``(sql, params)`` computed by the database; ``returns`` names fields read back from the row."""
        sql, params, complete = _insert_statement(obj, self.connection, self.using, expressions, returns)
        if complete.returns_rows:
            self.add(sql, params, complete)
        else:
            self.add(sql, params)
            complete(None)  # nothing to wait for: the instance is complete once the batch ran without error

    def get(self, model: type[Model], pk) -> list:
        """SELECT the row with this id, as ``row_get`` does; ``run()`` puts the instance in the list returned
        (which stays empty if there is no such row)."""
        connection = self.connection
        sql, names, converters = _select_plan(model, connection)
        found: list = []

        def load(rows):
            if rows:
                found.append(model.from_db(self.using, names, _convert(rows[0], converters, connection)))

        self.add(sql, [model._meta.pk.get_db_prep_value(pk, connection)], load)
        return found

    def allocate_id(self, obj: Model) -> bool:
        """Reserve ``obj``'s id from its sequence in this batch (PostgreSQL only), so that statements of a later
        batch can refer to it before it is inserted. False where ids are only known after the INSERT."""
        if not self.one_trip:
            return False
        pk = obj._meta.pk
        self.add("SELECT nextval(pg_get_serial_sequence(%s, %s))", [obj._meta.db_table, pk.column],
                 lambda rows: setattr(obj, pk.attname, rows[0][0]))
        return True

    def run(self, *, commit: bool = False) -> None:
        """``commit=True``: on PostgreSQL the same round trip ends the transaction. Only for the last statements of
        an outermost ``atomic`` block, whose exit then finds nothing left to commit (psycopg sends no COMMIT for a
        finished transaction; Django still runs its on_commit callbacks). Where the batch runs statement by
        statement the block's exit commits as usual."""
        items, self.items = self.items, []
        if not items:
            return
        commit = commit and self.one_trip
        if commit and len(self.connection.atomic_blocks) != 1:  # the caller checks that this one block is its own
            raise ValueError("Batch.run(commit=True) belongs at the end of an outermost atomic block")
        with self.connection.cursor() as wrapper:  # connects if need be, so the session below is current
            if self.one_trip:
                _Pipeline(self, items, commit).run(wrapper)
                return
            raw = wrapper.cursor  # results are read from the driver's cursor: the wrapper only adds a lookup per call
            for sql, params, on_result, _ in items:
                wrapper.execute(sql, params)
                if on_result:
                    on_result(raw.fetchall())

    def _begin(self) -> str | None:
        """The BEGIN this batch's round trip starts with, when it opens its ``atomic`` block's transaction: psycopg
        would otherwise send one in a round trip of its own (decision 0013). With the same options psycopg would
        give it (``BEGIN READ WRITE``…). Later statements find the server in the transaction and psycopg sends no
        second BEGIN; the block's exit commits or rolls back as usual (psycopg sends COMMIT or ROLLBACK whenever
        the server is in a transaction)."""
        from psycopg.pq import TransactionStatus

        pg = self.connection.connection
        if pg.autocommit or pg.pgconn.transaction_status != TransactionStatus.IDLE:
            return None
        parts = ["BEGIN"]
        if pg.isolation_level is not None:
            parts.append("ISOLATION LEVEL " + pg.isolation_level.name.replace("_", " "))
        if pg.read_only is not None:
            parts.append("READ ONLY" if pg.read_only else "READ WRITE")
        if pg.deferrable is not None:
            parts.append("DEFERRABLE" if pg.deferrable else "NOT DEFERRABLE")
        return " ".join(parts)


class _Pipeline:
    """One batch's statements through libpq's pipeline mode: every Parse, Bind and Execute written at once with a
    single Sync, the results read back in order (decision 0018). psycopg's own pipeline would flush and poll after
    every statement; its building blocks are used instead — its adapters quote nothing here: each value travels
    as a text parameter, dumped by the connection's adapters and read by the server's type input function."""

    def __init__(self, batch: Batch, items: list, commit: bool):
        self.batch, self.items, self.commit = batch, items, commit

    def run(self, wrapper) -> None:
        # As Django's cursor does before every statement: a transaction marked for rollback (an error caught in an
        # inner block) runs nothing more — above all not a COMMIT.
        self.batch.connection.validate_no_broken_transaction()
        self.cursor = wrapper.cursor  # its adapters: Django sets a time-zone loader on the cursor, not the session
        # The SQL log (Django's, when DEBUG or a test captures queries) and the execute wrappers see one entry per
        # round trip: the statements by name or text, never the values.
        text = self._describe()
        logged = wrapper.debug_sql(text, None, many=False) if hasattr(wrapper, "debug_sql") else nullcontext()
        with logged:  # Django's CursorDebugWrapper logs it; the plain wrapper does not
            wrapper._execute_with_wrappers(text, None, False, self._execute)

    def _describe(self) -> str:
        self.state = _Prepared.of(self.batch.connection) if self.batch.prepared else None
        self.pending: dict[str, str] = {}
        self.begin = self.batch._begin()
        # per item: name (None: unnamed), whether to parse it first, the text with $n, the number of placeholders
        self.plan: list[tuple[str | None, bool, str, int]] = []
        parts = [self.begin] if self.begin else []
        for sql, _, _, prepare in self.items:
            name, parse = self.state.name(sql, self.pending) if self.state and prepare else (None, False)
            numbered, count = _numbered(sql)
            self.plan.append((name, parse, numbered, count))
            if name is None:
                parts.append(numbered)
            else:
                parts.extend([f"PREPARE {name} AS {numbered}"] if parse else [])
                parts.append(f"EXECUTE {name}")
        if self.commit:
            parts.append("COMMIT")
        return "; ".join(parts)

    def _execute(self, sql, params, many, context) -> None:
        from psycopg import errors
        from psycopg.adapt import Transformer

        connection = self.batch.connection
        pg = connection.connection
        tx = Transformer(self.cursor)
        with connection.wrap_database_errors:
            expected, results = self._send_and_read(pg, tx)
            rows: dict[int, object] = {}
            for index, got in zip(expected, results, strict=True):
                for result in got:
                    if result.status == _FATAL_ERROR:
                        raise errors.error_from_result(result, encoding=pg.info.encoding)
                if index is not None and got:
                    rows[index] = got[-1]
        if self.state:
            self.state.names.update(self.pending)  # the whole pipeline ran: every Parse in it did
        for index, (_, _, on_result, _) in enumerate(self.items):
            if on_result:
                result = rows[index]
                tx.set_pgresult(result)
                on_result(tx.load_rows(0, result.ntuples, tuple))

    def _send_and_read(self, pg, tx) -> tuple[list[int | None], list[list]]:
        """Every command, one Sync, one flush; then each command's results. Returns, for each command sent, the
        item whose rows it gives (None for BEGIN, a Parse, COMMIT) and, in the same order, its results."""
        from psycopg import errors
        from psycopg.adapt import PyFormat
        from psycopg.pq import PipelineStatus

        pgconn = pg.pgconn
        expected: list[int | None] = []
        # Values first: one the adapters refuse (a NUL in a text) fails before anything is sent.
        values, types = [], []
        for (_, params, _, _), (_, _, _, count) in zip(self.items, self.plan, strict=True):
            if count != len(params):
                raise errors.ProgrammingError(f"the statement has {count} placeholders but {len(params)} values")
            values.append(tx.dump_sequence(params, [PyFormat.TEXT] * len(params)) if params else None)
            # A value's type goes with it, as the quoted literals of decision 0011 carried theirs ('…'::timestamptz),
            # except an integer's (or a list of them): psycopg picks int2, int4 or int8 by the size, the first Parse
            # would fix that type for the session, so the server infers it from where it stands instead (a column,
            # a cast, a function's argument), as it did for PREPARE.
            types.append([0 if oid in _INTEGER_OIDS else oid for oid in tx.types] if params else None)
        broken = False
        try:
            with pg.lock:
                pgconn.enter_pipeline_mode()
                try:
                    if self.begin:
                        pgconn.send_query_params(self.begin.encode(), None)
                        expected.append(None)
                    for index, ((name, parse, numbered, _), bound, oids) in enumerate(
                            zip(self.plan, values, types, strict=True)):
                        if name is None:
                            pgconn.send_query_params(numbered.encode(), bound, oids)
                        else:
                            if parse:  # typed by this first binding; later ones are read as those types
                                pgconn.send_prepare(name.encode(), numbered.encode(), oids)
                                expected.append(None)
                            pgconn.send_query_prepared(name.encode(), bound)
                        expected.append(index)
                    if self.commit:
                        pgconn.send_query_params(b"COMMIT", None)
                        expected.append(None)
                    pgconn.pipeline_sync()
                    return expected, pg.wait(_round_trip(pgconn))
                finally:
                    if pgconn.pipeline_status != PipelineStatus.OFF:
                        try:
                            pgconn.exit_pipeline_mode()
                        except errors.Error:  # results left unread (the connection broke mid-way, or a bad value)
                            broken = True
        finally:
            if broken:
                pg.close()  # a session stuck in pipeline mode is of no further use; Django reconnects


_FATAL_ERROR, _PIPELINE_SYNC = ExecStatus.FATAL_ERROR, ExecStatus.PIPELINE_SYNC


def _round_trip(pgconn):
    """A psycopg wait generator: flush what the pipeline holds, then read each command's results up to the Sync."""
    from psycopg.waiting import Ready, Wait

    while pgconn.flush() != 0:
        ready = yield Wait.RW
        if ready and ready & Ready.R:  # psycopg resumes the generator with None after cancelling on Ctrl-C
            pgconn.consume_input()
    results: list[list] = []
    current: list = []
    while True:
        if pgconn.is_busy():
            yield Wait.R
            pgconn.consume_input()
            continue
        result = pgconn.get_result()
        if result is None:  # the end of one command's results
            results.append(current)
            current = []
        elif result.status == _PIPELINE_SYNC:
            return results
        else:
            current.append(result)


def _select_plan(model: type[Model], connection):
    key = ("select", model)
    plans = _plans(connection)
    if key not in plans:
        meta = model._meta
        fields = list(meta.concrete_fields)
        qn = connection.ops.quote_name
        sql = (f"SELECT {', '.join(qn(f.column) for f in fields)} FROM {qn(meta.db_table)} "  # noqa: S608
               f"WHERE {qn(meta.pk.column)} = %s")
        plans[key] = (sql, [f.attname for f in fields], _converters(fields, connection))
    return plans[key]


def row_get(model: type[Model], pk, *, using: str | None = None) -> Model | None:
    """The row with this id as a model instance (every concrete field loaded), or None."""
    batch = Batch(using or router.db_for_read(model))
    found = batch.get(model, pk)
    batch.run()
    return found[0] if found else None
