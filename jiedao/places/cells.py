"""Square cells of 0.001° × 0.001° (about 111 m × 95 m at Shanghai's latitude) for "what is near this point?".

A case stores the number of the cell its point lies in (``Case.cell``, a generated column), so the duplicate check
(X-3) reads only the cases of the few cells its search box touches instead of every case of the category in the
time window (bench/case_intake.py measured the scan growing with the window's cases). Python and both databases
compute ``floor(degrees × 1000)`` on the same IEEE doubles, so a point gets the same cell everywhere.
"""

from __future__ import annotations

import math

from django.db.models import BigIntegerField, F, Func

CELLS_PER_DEGREE = 1000
_LAT_OFFSET, _LNG_OFFSET, _ROW = 90 * CELLS_PER_DEGREE, 180 * CELLS_PER_DEGREE, 1_000_000


def _number(row: int, col: int) -> int:
    return (row + _LAT_OFFSET) * _ROW + col + _LNG_OFFSET


def cell_of(lat: float, lng: float) -> int:
    return _number(math.floor(lat * CELLS_PER_DEGREE), math.floor(lng * CELLS_PER_DEGREE))


def cells_in_box(lat_min: float, lat_max: float, lng_min: float, lng_max: float) -> list[int]:
    """Every cell that a point inside the box can lie in (floor is monotonic, so the corners bound them)."""
    rows = range(math.floor(lat_min * CELLS_PER_DEGREE), math.floor(lat_max * CELLS_PER_DEGREE) + 1)
    cols = range(math.floor(lng_min * CELLS_PER_DEGREE), math.floor(lng_max * CELLS_PER_DEGREE) + 1)
    return [_number(r, c) for r in rows for c in cols]


class GeoCell(Func):
    """``cell_of(lat, lng)`` in SQL, NULL when either is NULL; immutable, so it can be a stored generated column."""

    output_field = BigIntegerField(null=True)

    def __init__(self, lat: str = "lat", lng: str = "lng"):
        super().__init__(F(lat), F(lng))

    def as_sql(self, compiler, connection, **extra):  # pragma: no cover - each vendor has its own
        raise NotImplementedError(f"GeoCell has no SQL for {connection.vendor}")

    def _compiled(self, compiler):
        (lat, lat_params), (lng, lng_params) = (compiler.compile(e) for e in self.get_source_expressions())
        return lat, lat_params, lng, lng_params

    def as_postgresql(self, compiler, connection, **extra):
        lat, lat_params, lng, lng_params = self._compiled(compiler)
        sql = (f"((floor({lat} * {CELLS_PER_DEGREE})::bigint + {_LAT_OFFSET}) * {_ROW}"
               f" + floor({lng} * {CELLS_PER_DEGREE})::bigint + {_LNG_OFFSET})")
        return sql, (*lat_params, *lng_params)

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite's floor() is optional at build time and Django replaces it with a Python function, which a
        # generated column must not depend on: CAST truncates towards zero, one less for negative fractions.
        lat, lat_params, lng, lng_params = self._compiled(compiler)

        def floor(x):
            return f"(CAST({x} AS INTEGER) - ({x} < CAST({x} AS INTEGER)))"

        sql = (f"(({floor(f'{lat} * {CELLS_PER_DEGREE}')} + {_LAT_OFFSET}) * {_ROW}"
               f" + {floor(f'{lng} * {CELLS_PER_DEGREE}')} + {_LNG_OFFSET})")
        return sql, (*lat_params * 3, *lng_params * 3)
