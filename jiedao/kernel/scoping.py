"""Who sees what (DESIGN §4.2).

A user's scope is computed once per request from their memberships (org
units and their subtrees, or the whole sub-district for wide roles) plus
what other apps add (grids and compounds assigned to a grid worker). Every
domain model's manager is a ``ScopedQuerySet``; views, API and exports read
only through ``visible_to(user)``, so an object outside the scope is simply
not found (404).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from operator import or_

from django.db import models
from django.db.models import Q

from .roles import ROLES, Cap, Reach


@dataclass
class Scope:
    user_id: int | None
    caps: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    subdistrict_ids: set[int] = field(default_factory=set)  # every sub-district the user works in
    wide_subdistrict_ids: set[int] = field(default_factory=set)  # where a role sees the whole area
    org_unit_ids: set[int] = field(default_factory=set)  # membership units and their subtrees
    grid_ids: set[int] = field(default_factory=set)
    compound_ids: set[int] = field(default_factory=set)
    everything: bool = False  # break-glass superuser from the command line

    def has(self, cap: str) -> bool:
        return self.everything or cap in self.caps


_extenders: list[Callable[[object, Scope], None]] = []


def register_scope_extender(fn: Callable[[object, Scope], None]) -> None:
    """Apps that assign places to users (places: grid assignments) add to the scope here."""
    if fn not in _extenders:
        _extenders.append(fn)


def user_scope(user) -> Scope:
    cached = getattr(user, "_jiedao_scope", None)
    if cached is not None:
        return cached
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        scope = Scope(user_id=None)
    elif user.is_superuser:
        scope = Scope(user_id=user.pk, everything=True)
    else:
        scope = _compute_scope(user)
    user._jiedao_scope = scope
    return scope


def invalidate_scope(user) -> None:
    if hasattr(user, "_jiedao_scope"):
        del user._jiedao_scope


def _compute_scope(user) -> Scope:
    from .models import Membership, OrgUnit

    scope = Scope(user_id=user.pk)
    caps: set[str] = set()
    roles: set[str] = set()
    subtree_paths: list[str] = []
    for m in Membership.objects.filter(user=user, active=True).select_related("org_unit"):
        role = ROLES.get(m.role)
        if role is None:
            continue
        roles.add(role.code)
        caps.update(role.caps)
        scope.subdistrict_ids.add(m.org_unit.subdistrict_id)
        if role.reach == Reach.SUBDISTRICT:
            scope.wide_subdistrict_ids.add(m.org_unit.subdistrict_id)
        elif role.reach == Reach.SUBTREE:
            subtree_paths.append(m.org_unit.path)
    if subtree_paths:
        q = reduce(or_, (Q(path__startswith=p) for p in subtree_paths))
        scope.org_unit_ids = set(OrgUnit.objects.filter(q).values_list("id", flat=True))
    scope.caps = frozenset(caps)
    scope.roles = frozenset(roles)
    for extend in _extenders:
        extend(user, scope)
    return scope


class ScopedQuerySet(models.QuerySet):
    """The default manager of every domain model: ``Model.objects.visible_to(user)``."""

    def visible_to(self, user):
        scope = user_scope(user)
        if scope.everything:
            return self.all()
        if scope.user_id is None:
            return self.none()
        q = self.model.scope_q(scope)
        if q is None:
            return self.none()
        return self.filter(q)


def require_view(scope: Scope, cap: Cap | str) -> bool:
    return scope.has(str(cap))
