"""Writes of places. Grid changes bump the sub-district's places_version (the index cache key)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from shapely.geometry import shape

from jiedao.kernel.audit import audit_record, diff
from jiedao.kernel.models import Subdistrict
from jiedao.kernel.permissions import require_capability
from jiedao.kernel.roles import Cap

from .geo import grid_for_point
from .models import Building, Compound, Grid, GridAssignment, Premises, River, Road


def _bump(subdistrict_id: int) -> None:
    Subdistrict.objects.filter(pk=subdistrict_id).update(places_version=F("places_version") + 1)


def _check(actor, obj=None):
    if actor is not None:
        require_capability(actor, Cap.PLACES_MANAGE, obj=obj)


@transaction.atomic
def grid_create(*, actor, subdistrict, code: str, name: str, geometry: dict, org_unit=None) -> Grid:
    _check(actor)
    poly = shape(geometry)
    centroid = poly.centroid
    grid = Grid.objects.create(subdistrict=subdistrict, code=code, name=name, geometry=geometry, org_unit=org_unit,
                               lat=centroid.y, lng=centroid.x, area_m2=_area_m2(poly))
    _bump(subdistrict.pk)
    audit_record(actor=actor, action="grid.create", obj=grid, changes={"code": [None, code]})
    return grid


@transaction.atomic
def grid_update(*, actor, grid: Grid, name: str | None = None, geometry: dict | None = None, org_unit=None) -> Grid:
    _check(actor, grid)
    before = {"name": grid.name, "geometry": "…", "org_unit": grid.org_unit_id}
    if name is not None:
        grid.name = name
    if geometry is not None:
        poly = shape(geometry)
        grid.geometry, grid.lat, grid.lng, grid.area_m2 = geometry, poly.centroid.y, poly.centroid.x, _area_m2(poly)
    if org_unit is not None:
        grid.org_unit = org_unit
    grid.save()
    _bump(grid.subdistrict_id)
    audit_record(actor=actor, action="grid.update", obj=grid,
                 changes=diff(before, {"name": grid.name, "geometry": "changed" if geometry else "…",
                                       "org_unit": grid.org_unit_id}))
    return grid


@transaction.atomic
def grid_assign(*, actor, grid: Grid, user) -> GridAssignment:
    if actor is not None:
        require_capability(actor, Cap.USERS_MANAGE)
    assignment, _ = GridAssignment.objects.get_or_create(subdistrict_id=grid.subdistrict_id, user=user, grid=grid)
    audit_record(actor=actor, action="grid.assign", obj=assignment, subdistrict_id=grid.subdistrict_id,
                 changes={"user": [None, user.username], "grid": [None, grid.code]})
    from jiedao.kernel.scoping import invalidate_scope

    invalidate_scope(user)
    return assignment


def _area_m2(poly) -> float:
    # Equirectangular approximation: good to a fraction of a percent at a sub-district's size.
    import math

    lat0 = math.radians(poly.centroid.y)
    return abs(poly.area) * (111_320.0**2) * math.cos(lat0)


_PLACE_MODELS = {"compound": Compound, "building": Building, "premises": Premises, "road": Road, "river": River}


@transaction.atomic
def place_create(*, actor, kind: str, subdistrict, **fields):
    """Create a compound, building, premises, road or river; a point place gets its grid from its location."""
    _check(actor)
    model = _PLACE_MODELS[kind]
    if "grid" in {f.name for f in model._meta.fields} and fields.get("lat") is not None and "grid" not in fields:
        fields["grid_id"] = grid_for_point(subdistrict_id=subdistrict.pk, lat=fields["lat"], lng=fields["lng"])
    place = model.objects.create(subdistrict=subdistrict, **fields)
    audit_record(actor=actor, action=f"{kind}.create", obj=place, changes={"name": [None, place.name]})
    return place
