"""One-row INSERT and SELECT by id for hot paths, with the SQL built once per model instead of on every call.

``Model.save()`` and ``QuerySet.get()`` compile their query anew each time; on case intake that compilation was
a third of the Python time per case (bench/case_intake.py, docs/decisions/0010-hot-path-rows.md). These helpers
build the statement once per model and database vendor from the model's own ``_meta`` and pass every value
through the field's ``get_db_prep_save`` and every result through the same converters the ORM uses, so the rows
written and the objects read are the ones ``save()`` and ``get()`` would give (kernel/tests/test_rows.py compares
them). Two things they do not do, so use them only where neither matters:

- no ``pre_save``/``post_save`` signals (``row_insert`` refuses a model that has receivers for them);
- no multi-table inheritance, no expressions as values, no ``db_default``.
"""

from __future__ import annotations

from django.db import connections, router
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


def _insert_plan(model: type[Model], connection):
    key = ("insert", model)
    plans = _plans(connection)
    if key not in plans:
        meta = model._meta
        if meta.parents:
            raise TypeError(f"row_insert: {meta.label} inherits from another model")
        fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
        returning = list(meta.db_returning_fields)
        qn = connection.ops.quote_name
        sql = (f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "  # noqa: S608 (names from _meta)
               f"VALUES ({', '.join(['%s'] * len(fields))})")
        returning_sql, _ = connection.ops.return_insert_columns(returning)
        plans[key] = (f"{sql} {returning_sql}", fields, returning, _converters(returning, connection))
    return plans[key]


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


def row_insert(obj: Model, *, using: str | None = None) -> Model:
    """INSERT ``obj`` (a new instance with no id yet) and set its id and database-computed fields, as
    ``obj.save(force_insert=True)`` would."""
    model = type(obj)
    if signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model):
        raise TypeError(f"row_insert: {model._meta.label} has save signal receivers; use save()")
    if obj.pk is not None and model._meta.auto_field is not None:
        raise ValueError("row_insert: the instance already has an id")
    using = using or router.db_for_write(model, instance=obj)
    connection = connections[using]
    sql, fields, returning, converters = _insert_plan(model, connection)
    params = []
    for field in fields:
        value = field.pre_save(obj, add=True)
        if hasattr(value, "resolve_expression"):
            raise TypeError(f"row_insert: {field.name} holds an expression; use save()")
        params.append(field.get_db_prep_save(value, connection=connection))
    with connection.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    for field, value in zip(returning, _convert(row, converters, connection), strict=True):
        setattr(obj, field.attname, value)
    obj._state.adding = False
    obj._state.db = using
    return obj


def row_get(model: type[Model], pk, *, using: str | None = None) -> Model | None:
    """The row with this id as a model instance (every concrete field loaded), or None."""
    using = using or router.db_for_read(model)
    connection = connections[using]
    sql, names, converters = _select_plan(model, connection)
    with connection.cursor() as cur:
        cur.execute(sql, [model._meta.pk.get_db_prep_value(pk, connection)])
        row = cur.fetchone()
    if row is None:
        return None
    return model.from_db(using, names, _convert(row, converters, connection))
