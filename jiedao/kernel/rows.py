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

import re
from datetime import UTC, datetime
from math import isfinite

from django.conf import settings
from django.db import connections, models, router
from django.db.models import Model, signals


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


class _Prepared:
    """The statements prepared on one PostgreSQL session (``PREPARE``; they live as long as the session).

    A batch sends ``PREPARE jiedao_N AS …; EXECUTE jiedao_N(…)`` the first time a statement text is seen on the
    session and only ``EXECUTE`` after that, in the same one round trip: the server skips parsing and planning
    (a third of its time per intake, docs/decisions/0011-prepared-batches.md). ``PREPARE`` is not undone by a
    rollback and does not run after a failed statement of the same message, so a name is trusted only once the
    message that prepared it succeeded; names are never reused, so a doubtful one is simply abandoned.
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

    def statements(self, sql: str, params: list, pending: dict, mogrify, literals) -> list[str]:
        """The statements, values quoted in, that run ``sql`` (``%s`` placeholders) through a prepared statement."""
        name = self.names.get(sql) or pending.get(sql)
        prepare = []
        if name is None:
            if len(self.names) + len(pending) >= MAX_PREPARED:
                return [mogrify(sql, params)]
            self.counter += 1
            name = pending[sql] = f"jiedao_{self.counter}"
            numbers = iter(range(1, len(params) + 1))
            prepare = [f"PREPARE {name} AS " + _PLACEHOLDER.sub(
                lambda m: "%" if m.group() == "%%" else f"${next(numbers)}", sql)]
        # The EXECUTE is written here, not through mogrify: psycopg would parse its placeholders again on every
        # call (it caches that only for statements of at most 50 values; a case's INSERT has more): 0.22 ms of an
        # intake's 6 ms (bench/intake_inprocess.py).
        return [*prepare, f"EXECUTE {name}({literals(params)})" if params else f"EXECUTE {name}"]


def _literals(cursor):
    """A function quoting a list of values as SQL literals separated by commas, as the cursor's ``mogrify`` quotes
    each value (the same adapters: psycopg's and Django's)."""
    from psycopg.adapt import Transformer
    from psycopg.types.numeric import Int2, Int4, Int8

    ints = (Int2, Int4, Int8)  # written as a plain int is (test_rows)
    tx = Transformer(cursor)  # what mogrify makes for each call
    literal, encoding = tx.as_literal, tx.encoding

    def one(v) -> str:
        # The commonest kinds written here as psycopg writes them (a string without backslashes reads the same
        # whatever standard_conforming_strings says; a negative number gets a space so that "- -1" never becomes
        # a comment); everything else through psycopg's adapters. test_rows compares them with mogrify.
        t = type(v)
        if t is str and "\\" not in v and "\x00" not in v:
            return "'" + v.replace("'", "''") + "'"
        if t is int or t in ints or (t is float and isfinite(v)):  # Django's integer fields give psycopg's Int4…
            text = str(v)
            return f" {text}" if text[0] == "-" else text
        if t is datetime and v.tzinfo is UTC:  # the form of psycopg's dumper, which Django's UTC values take
            return f"'{v}'::timestamptz"
        return "NULL" if v is None else literal(v).decode(encoding)

    return lambda values: ", ".join(map(one, values))


class Batch:
    """Statements whose results are not needed before the last of them: on PostgreSQL sent in one round trip.

    Django's default client-side binding (psycopg's ClientCursor) sends a statement list as one simple query; each
    statement runs in order with its own snapshot (READ COMMITTED), a failing one aborts the rest and the
    transaction, as it would one by one. Every other setup (SQLite, where a "round trip" is a function call, or
    server-side binding) runs them one by one. A statement's ``on_result`` receives its rows during ``run()``.
    """

    def __init__(self, using: str = "default"):
        self.using = using
        self.connection = connections[using]
        self.items: list[tuple[str, list, object, bool]] = []

    @property
    def one_trip(self) -> bool:
        # Django's psycopg 3 backend uses a ClientCursor unless OPTIONS["server_side_binding"] is set.
        options = self.connection.settings_dict.get("OPTIONS") or {}
        return self.connection.vendor == "postgresql" and options.get("server_side_binding") is not True

    @property
    def prepared(self) -> bool:
        """Statements go through server-side prepared statements (off behind a transaction-mode pooler such as
        PgBouncer, where the next transaction may run on another session: JIEDAO_PG_PREPARE=0)."""
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
        """``commit=True``: on PostgreSQL the same message ends the transaction (one round trip fewer). Only for the
        last statements of an outermost ``atomic`` block, whose exit then finds nothing left to commit (psycopg
        sends no COMMIT for a finished transaction; Django still runs its on_commit callbacks). Where the batch
        runs statement by statement the block's exit commits as usual."""
        items, self.items = self.items, []
        if not items:
            return
        commit = commit and self.one_trip
        if commit and len(self.connection.atomic_blocks) != 1:  # the caller checks that this one block is its own
            raise ValueError("Batch.run(commit=True) belongs at the end of an outermost atomic block")
        with self.connection.cursor() as wrapper:  # connects if need be, so the session below is current
            raw = wrapper.cursor  # results are read from psycopg's cursor: the wrapper only adds a lookup per call
            if self.one_trip and (len(items) > 1 or commit or self.prepared):
                self._run_message(wrapper, raw, items, commit)
                return
            for sql, params, on_result, _ in items:
                wrapper.execute(sql, params)
                if on_result:
                    on_result(raw.fetchall())

    def _begin_here(self) -> bool:
        """Whether this batch opens its ``atomic`` block's transaction, for which psycopg would first send BEGIN in
        a round trip of its own. Then BEGIN leads the batch's message instead, and psycopg, switched to autocommit
        for the rest of the block, sends none: the server is in the transaction all the same, and the block's exit
        commits or rolls it back as usual (psycopg sends COMMIT or ROLLBACK whenever the server is in a
        transaction; Django switches autocommit back on after it). Decision 0013."""
        from psycopg.pq import TransactionStatus

        pg = self.connection.connection
        return (self.connection.in_atomic_block and not pg.autocommit
                and pg.pgconn.transaction_status == TransactionStatus.IDLE
                # psycopg's own BEGIN would carry these; a plain one would not
                and pg.isolation_level is None and pg.read_only is None and pg.deferrable is None)

    def _run_message(self, wrapper, raw, items, commit: bool) -> None:
        """Every statement in one simple-query message, its values quoted in (``_literals``, or psycopg's
        ``mogrify`` for a statement that is not prepared)."""
        state = _Prepared.of(self.connection) if self.prepared else None
        literals = _literals(raw) if state else None
        pending: dict[str, str] = {}
        parts: list[str] = []
        results: list[int] = []  # for each item, the index of its result among the message's results
        for sql, params, _, prepare in items:
            parts.extend(state.statements(sql, params, pending, raw.mogrify, literals) if state and prepare
                         else [raw.mogrify(sql, params)])
            results.append(len(parts) - 1)
        if commit:
            parts.append("COMMIT")
        if self._begin_here():
            self.connection.connection.autocommit = True  # allowed: the session is idle
            parts.insert(0, "BEGIN")
            results = [i + 1 for i in results]
        wrapper.execute("; ".join(parts))  # values already in: no parameters, so psycopg leaves the text alone
        if state:
            state.names.update(pending)  # the whole message ran: every PREPARE in it did
        at = 0
        for index, (_, _, on_result, _) in zip(results, items, strict=True):
            while at < index:
                raw.nextset()
                at += 1
            if on_result:
                on_result(raw.fetchall())


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
