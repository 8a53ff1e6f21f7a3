"""Reads of the case engine, always through visible_to(user)."""

from __future__ import annotations

import copy

from django.db.models import Exists, OuterRef, Prefetch, Q
from django.utils import timezone

from jiedao.kernel.exceptions import NotFound
from jiedao.kernel.scoping import user_scope

from .choices import OPEN_STATES, AssignmentState, CaseState
from .models import Case, CaseAssignment, CaseCategory, CasePhoto

FILTERS = ("state", "category_id", "grid_id", "department_id", "source", "overdue", "q", "supervised")


def case_list(*, user, state: str = "", category_id: int | None = None, grid_id: int | None = None,
              department_id: int | None = None, source: str = "", overdue: bool = False, q: str = "",
              supervised: bool = False, order: str = "deadline"):
    qs = Case.objects.visible_to(user).select_related("category", "grid", "lead_department")
    if state == "open":
        qs = qs.filter(state__in=OPEN_STATES)
    elif state:
        qs = qs.filter(state__in=state.split(","))
    if category_id:
        qs = qs.filter(Q(category_id=category_id) | Q(category__parent_id=category_id))
    if grid_id:
        qs = qs.filter(grid_id=grid_id)
    if department_id:
        qs = qs.filter(assignments__department_id=department_id,
                       assignments__state__in=[AssignmentState.DISPATCHED, AssignmentState.ACCEPTED,
                                               AssignmentState.FEEDBACK])
    if source:
        qs = qs.filter(source=source)
    if overdue:
        qs = qs.filter(state__in=OPEN_STATES, deadline_at__lt=timezone.now())
    if supervised:
        qs = qs.filter(supervision_level__gt=0)
    if q:
        q = q.strip()
        # The case number, a 12345 order or device alarm number (external_id), the title or the address.
        qs = qs.filter(Q(number__startswith=q) | Q(external_id__istartswith=q) | Q(title__icontains=q)
                       | Q(address__icontains=q))
    if department_id:
        qs = qs.distinct()
    ordering = {"deadline": ("deadline_at", "id"), "newest": ("-reported_at", "-id")}.get(order, ("deadline_at", "id"))
    return qs.order_by(*ordering)


def case_get_visible(*, user, case_id: int) -> Case:
    case = Case.objects.visible_to(user).select_related("category", "grid", "lead_department", "reporter") \
        .filter(pk=case_id).first()
    if case is None:
        raise NotFound("not_found", "案件不存在。")
    return case


def case_timeline(*, case: Case):
    return case.events.select_related("actor", "department").prefetch_related("photos")


def case_duplicates(*, user, case: Case):
    """Flagged candidates the user can see, for the side-by-side view."""
    ids = list(case.duplicate_candidates or [])
    return Case.objects.visible_to(user).filter(pk__in=ids).select_related("category").order_by("reported_at") \
        .prefetch_related(Prefetch("photos", queryset=CasePhoto.objects.filter(stage="report"), to_attr="report_photos"))


def case_merged_in(*, user, case: Case):
    """The reports merged into this case (their reporters are followed up with its outcome)."""
    return Case.objects.visible_to(user).filter(duplicate_of=case, state=CaseState.MERGED).order_by("reported_at")


def department_inbox(*, user):
    """For a department's handlers: what to accept, what is in hand, what is overdue — by the department's *own*
    assignment of each case. (Chained filters on ``assignments__…`` would match any assignment of the case: a
    department that returned a case would still see it after it went to another, and a co-handler whose lead
    accepted first would find it under 处置中 before accepting.)"""
    units = user_scope(user).org_unit_ids
    base = Case.objects.visible_to(user).select_related("category", "grid")
    now = timezone.now()

    def own(*states):
        return Exists(CaseAssignment.objects.filter(case_id=OuterRef("pk"), department_id__in=units,
                                                    state__in=states))

    return {
        "to_accept": base.filter(own(AssignmentState.DISPATCHED), state__in=[CaseState.DISPATCHED, CaseState.ACCEPTED])
        .order_by("deadline_at"),
        "in_hand": base.filter(own(AssignmentState.ACCEPTED), state__in=[CaseState.ACCEPTED, CaseState.DISPATCHED])
        .order_by("deadline_at"),
        "overdue": base.filter(own(AssignmentState.DISPATCHED, AssignmentState.ACCEPTED), state__in=OPEN_STATES,
                               deadline_at__lt=now).order_by("deadline_at"),
        "waiting": base.filter(own(AssignmentState.FEEDBACK), state__in=[CaseState.HANDLED, CaseState.ACCEPTED])
        .order_by("-handled_at"),
    }


def grid_worker_tasks(*, user):
    scope = user_scope(user)
    base = Case.objects.visible_to(user).select_related("category", "grid")
    return {
        "to_verify": base.filter(state=CaseState.HANDLED, grid_id__in=scope.grid_ids).order_by("handled_at"),
        "my_reports": base.filter(reporter=user).order_by("-reported_at")[:20],
    }


def category_leaves(*, user, q: str = "", kind: str = ""):
    qs = CaseCategory.objects.visible_to(user).filter(is_leaf=True, active=True).select_related("parent")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(code__startswith=q) | Q(legacy_code__startswith=q))
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("kind", "code")


def category_in(subdistrict, category_id) -> CaseCategory | None:
    """A category of this sub-district (the row the caller loaded, whose token keys the per-process copy of its
    categories; no query), or None. For callers that have checked the sub-district is theirs."""
    try:
        category = _categories(subdistrict.pk, subdistrict.categories_token).get(int(category_id))
    except (TypeError, ValueError):
        return None
    return copy.copy(category) if category is not None else None  # the cached one is never handed out


_category_cache: dict[int, tuple[str, dict[int, CaseCategory]]] = {}


def _categories(subdistrict_id: int, token: str) -> dict[int, CaseCategory]:
    """All categories of a sub-district by id, kept per process until its ``categories_token`` changes (every
    category write renews it, see signals.py). A few hundred rows: one query when the token changes."""
    # Unscoped on purpose: the only caller passes a sub-district it has just checked is in the user's scope, which
    # is all that CaseCategory.scope_q asks.
    held = _category_cache.get(subdistrict_id)
    if held is None or held[0] != token:
        held = (token, {c.pk: c for c in CaseCategory.objects.filter(subdistrict_id=subdistrict_id)})
        _category_cache[subdistrict_id] = held
    return held[1]


def case_merged_into(case: Case) -> Case | None:
    """The case a merged report is handled as: the end of its chain of merges (a report merged into one that was
    merged in turn follows the last), or None for a case that is not merged."""
    # Not through visible_to: the chain is part of the report itself, read for its reporter (who holds the report's
    # own token) and for its follow-up; the public page shows of the last case only its number, state and steps.
    seen, current = set(), case
    while current.state == CaseState.MERGED and current.duplicate_of_id and current.pk not in seen:
        seen.add(current.pk)
        current = Case.objects.filter(pk=current.duplicate_of_id).first() or current
    return current if current.pk != case.pk else None
