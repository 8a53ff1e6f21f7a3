"""Reads of places, always through visible_to(user)."""

from __future__ import annotations

from jiedao.kernel.exceptions import NotFound

from .models import Building, Compound, Grid, GridAssignment, Premises, River, Road

PLACE_MODELS = {"grid": Grid, "compound": Compound, "building": Building, "premises": Premises,
                "road": Road, "river": River}


def extend_scope_with_grids(user, scope) -> None:
    """Scope extender (registered in apps.py): a grid worker sees the grids assigned to them."""
    scope.grid_ids |= set(GridAssignment.objects.filter(user=user).values_list("grid_id", flat=True))


def place_list(*, user, kind: str, q: str = "", grid_id: int | None = None):
    model = PLACE_MODELS[kind]
    qs = model.objects.visible_to(user)
    if q:
        qs = qs.filter(name__icontains=q)
    if grid_id and kind not in {"grid", "road", "river"}:
        qs = qs.filter(grid_id=grid_id)
    return qs.order_by("id")


def place_get_visible(*, user, kind: str, place_id: int):
    model = PLACE_MODELS.get(kind)
    obj = model.objects.visible_to(user).filter(pk=place_id).first() if model else None
    if obj is None:
        raise NotFound("not_found", "对象不存在。")
    return obj


def compound_options(*, user):
    return Compound.objects.visible_to(user).order_by("name").only("id", "name")


def map_layers(*, user) -> dict:
    """GeoJSON FeatureCollections for the home map: grids, compounds, buildings (offices, plazas, hotels), roads, rivers."""
    def fc(features):
        return {"type": "FeatureCollection", "features": features}

    grids = [
        {"type": "Feature", "geometry": g["geometry"],
         "properties": {"id": g["id"], "code": g["code"], "name": g["name"], "kind": "grid"}}
        for g in Grid.objects.visible_to(user).values("id", "code", "name", "geometry")
    ]
    roads = [
        {"type": "Feature", "geometry": r["geometry"],
         "properties": {"id": r["id"], "name": r["name"], "road_class": r["road_class"], "kind": "road"}}
        for r in Road.objects.visible_to(user).values("id", "name", "road_class", "geometry")
    ]
    rivers = [
        {"type": "Feature", "geometry": r["geometry"], "properties": {"id": r["id"], "name": r["name"], "kind": "river"}}
        for r in River.objects.visible_to(user).values("id", "name", "geometry")
    ]
    compounds = [
        {"type": "Feature", "geometry": c["geometry"] or {"type": "Point", "coordinates": [c["lng"], c["lat"]]},
         "properties": {"id": c["id"], "name": c["name"], "kind": "compound"}}
        for c in Compound.objects.visible_to(user).values("id", "name", "geometry", "lat", "lng")
        if c["geometry"] or c["lat"] is not None
    ]
    buildings = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [b["lng"], b["lat"]]},
         "properties": {"id": b["id"], "name": b["name"], "kind": "building", "building_kind": b["kind"]}}
        for b in Building.objects.visible_to(user).exclude(kind="residential").exclude(lat=None)
        .values("id", "name", "kind", "lat", "lng")
    ]
    return {"grids": fc(grids), "roads": fc(roads), "rivers": fc(rivers), "compounds": fc(compounds),
            "buildings": fc(buildings)}
