"""The case number (案件编号): the local date of the report and the id, e.g. 20261126000123.

One expression that both databases can keep as a stored generated column (it may use immutable functions only,
so no ``to_char``, whose output depends on the session): ``Case.number`` is filled in by the INSERT itself.
The local date is UTC+8 (Asia/Shanghai has had no daylight saving since 1991); ``case_number`` is the same rule
in Python, for tests and for code that has a case's id and report time in hand.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import CharField, Expression, F, Func

UTC_OFFSET_HOURS = 8


def case_number(*, reported_at: dt.datetime, pk: int) -> str:
    local = reported_at.astimezone(dt.timezone(dt.timedelta(hours=UTC_OFFSET_HOURS)))
    return f"{local:%Y%m%d}{pk:06d}"


class CaseNumber(Func):
    """``YYYYMMDD`` of ``reported_at`` at UTC+8, then ``id`` zero-padded to six digits (longer ids stay whole)."""

    output_field = CharField(max_length=32)

    def __init__(self, reported_at: Expression | str = "reported_at", pk: Expression | str = "id"):
        super().__init__(F(reported_at) if isinstance(reported_at, str) else reported_at,
                         F(pk) if isinstance(pk, str) else pk)

    def as_sql(self, compiler, connection, **extra):  # pragma: no cover - each vendor has its own
        raise NotImplementedError(f"CaseNumber has no SQL for {connection.vendor}")

    def as_sqlite(self, compiler, connection, **extra):
        (at, at_params), (pk, pk_params) = (compiler.compile(e) for e in self.get_source_expressions())
        sql = f"(strftime('%%Y%%m%%d', {at}, '+{UTC_OFFSET_HOURS} hours') || printf('%%06d', {pk}))"
        return sql, (*at_params, *pk_params)

    def as_postgresql(self, compiler, connection, **extra):
        (at, at_params), (pk, pk_params) = (compiler.compile(e) for e in self.get_source_expressions())
        local = f"({at} AT TIME ZONE INTERVAL '+{UTC_OFFSET_HOURS}:00')"
        day = (f"(extract(year FROM {local}) * 10000 + extract(month FROM {local}) * 100"
               f" + extract(day FROM {local}))::bigint::text")
        sql = f"({day} || lpad({pk}::text, greatest(6, length({pk}::text)), '0'))"
        return sql, (*at_params, *at_params, *at_params, *pk_params, *pk_params)
