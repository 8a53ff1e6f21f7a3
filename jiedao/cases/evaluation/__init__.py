"""绩效考评 (GOV-4): per department, grid and worker, per month. Formulas are in docs/cases.md.

``evaluation()`` answers from the figures kept incrementally (``figures.py``) when the user sees whole
sub-districts, so its cost does not grow with the cases of the month; for narrower scopes it computes them from the
rows of the user's slice (``live.py``, also the reference the kept figures are rebuilt from and checked against).
Both give the same rows, labels and order. docs/decisions/0008-evaluation-aggregates.md.
"""

from __future__ import annotations

from .figures import figures_read, figures_where
from .live import DIMENSIONS, VERIFY_HOURS, Row, figures_live, finish, month_bounds

__all__ = ["DIMENSIONS", "VERIFY_HOURS", "Row", "evaluation", "figures_live", "month_bounds"]


def evaluation(*, user, month: str, by: str) -> list[Row]:
    """Figures of one month, grouped ``by`` department, grid or worker, over cases the user can see."""
    if by not in DIMENSIONS:
        raise ValueError(by)
    month_bounds(month)  # ValueError for a month that does not exist
    where = figures_where(user)
    if where is None:
        return figures_live(user=user, month=month, by=by)
    return finish(figures_read(where=where, month=month, by=by), by)
