"""Who sees what (DESIGN §4.2).

A user's scope is computed once per request from their memberships (org
units and their subtrees, or the whole sub-district for wide roles) plus
what other apps add (grids and compounds assigned to a grid worker). Every
domain model's manager is a ``ScopedQuerySet``; views, API and exports read
only through ``visible_to(user)``, so an object outside the scope is simply
not found (404).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from operator import or_

from django.core.cache import cache
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
    primary_unit_name: str = ""  # the org unit of the first active membership (the audit record's org unit)

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
        scope = _cached_scope(user)
    user._jiedao_scope = scope
    return scope


# The role table is part of every cached scope: a deployment that changes it must not read older scopes.
_ROLES_DIGEST = hashlib.sha256(repr(sorted((code, str(r.reach), sorted(map(str, r.caps)))
                                           for code, r in ROLES.items())).encode()).hexdigest()[:12]
SCOPE_CACHE_SECONDS = 300  # also bounds the life of a scope missed by a write that bypassed scope_changed


def _cached_scope(user) -> Scope:
    """The scope from the cache, keyed by the user's ``scope_token`` (which every change of memberships, grid
    assignments or the org tree replaces, see ``scope_changed``): a request then costs no query for it."""
    token = getattr(user, "scope_token", "")
    if not token:
        return _compute_scope(user)
    key = f"jiedao:scope:{_ROLES_DIGEST}:{user.pk}:{token}"
    scope = cache.get(key)
    if scope is None:
        scope = _compute_scope(user)
        cache.set(key, scope, SCOPE_CACHE_SECONDS)
    return scope


def scope_changed(*, user_ids=None, subdistrict_id: int | None = None) -> None:
    """What these users (or everyone with a membership in the sub-district) may see has changed: give them new
    scope tokens, so no process reads a cached scope of theirs again. Part of the caller's transaction."""
    from django.db.models import Q

    from .models import Membership, User
    from .models.org import new_token

    who = Q(pk__in=list(user_ids or ()))
    if subdistrict_id is not None:
        who |= Q(pk__in=Membership.objects.filter(org_unit__subdistrict_id=subdistrict_id).values("user_id"))
    # One statement, one token for all of them: the cache key holds the user's id beside the token, so a shared
    # token still gives each user a key no process has seen (decision 0009).
    User.objects.filter(who).update(scope_token=new_token())


def invalidate_scope(user) -> None:
    """Forget the scope held on this user object (after changing what they may see, in the same request)."""
    if hasattr(user, "_jiedao_scope"):
        del user._jiedao_scope
    if getattr(user, "pk", None) and hasattr(user, "scope_token"):
        from .models import User

        user.scope_token = User.objects.filter(pk=user.pk).values_list("scope_token", flat=True).first() or ""


def _compute_scope(user) -> Scope:
    from .models import Membership, OrgUnit

    scope = Scope(user_id=user.pk)
    caps: set[str] = set()
    roles: set[str] = set()
    subtree_paths: list[str] = []
    for m in Membership.objects.filter(user=user, active=True).select_related("org_unit").order_by("id"):
        if not scope.primary_unit_name:
            scope.primary_unit_name = m.org_unit.name
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
