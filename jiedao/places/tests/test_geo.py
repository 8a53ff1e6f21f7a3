import random

import pytest
from shapely.geometry import shape
from shapely.ops import unary_union

from jiedao.demo import geography
from jiedao.places import geo
from jiedao.places.coords import gcj02_to_wgs84, to_wgs84, wgs84_to_gcj02
from jiedao.places.services import grid_update


def test_point_lands_in_its_grid(town):
    g1, g2 = town.grids
    assert geo.grid_for_point(subdistrict_id=town.sub.pk, lat=31.335, lng=121.505) == g1.pk
    assert geo.grid_for_point(subdistrict_id=town.sub.pk, lat=31.335, lng=121.515) == g2.pk
    assert geo.grid_for_point(subdistrict_id=town.sub.pk, lat=30.0, lng=120.0) is None


def test_point_on_a_shared_edge_gets_the_lower_id(town):
    g1, _ = town.grids
    assert geo.grid_for_point(subdistrict_id=town.sub.pk, lat=31.335, lng=121.51) == g1.pk


def test_index_is_rebuilt_when_a_grid_changes(town):
    g1, g2 = town.grids
    assert geo.grid_for_point(subdistrict_id=town.sub.pk, lat=31.345, lng=121.505) is None
    grid_update(actor=None, grid=g1, geometry={"type": "Polygon", "coordinates": [[
        [121.50, 31.33], [121.51, 31.33], [121.51, 31.35], [121.50, 31.35], [121.50, 31.33]]]})
    assert geo.grid_for_point(subdistrict_id=town.sub.pk, lat=31.345, lng=121.505) == g1.pk


def test_locate_many_agrees_with_locate(town):
    index = geo.grid_index(town.sub.pk)
    rnd = random.Random(1)
    lats = [rnd.uniform(31.325, 31.345) for _ in range(500)]
    lngs = [rnd.uniform(121.495, 121.525) for _ in range(500)]
    assert index.locate_many(lats, lngs) == [index.locate(a, b) for a, b in zip(lats, lngs)]


def test_gcj02_round_trip_is_within_a_centimetre():
    lat, lng = 31.3321, 121.5063
    glat, glng = wgs84_to_gcj02(lat, lng)
    assert abs(glat - lat) > 1e-4  # the offset is real (hundreds of metres)
    back = gcj02_to_wgs84(glat, glng)
    assert abs(back[0] - lat) < 1e-7 and abs(back[1] - lng) < 1e-7
    assert to_wgs84(48.85, 2.35, "gcj02") == (48.85, 2.35)  # outside China nothing changes
    with pytest.raises(ValueError):
        to_wgs84(1, 1, "bd09")


def test_locate_api_accepts_gcj02(town, client_for):
    c = client_for(town.users["dispatcher"])
    glat, glng = wgs84_to_gcj02(31.335, 121.505)
    r = c.get(f"/api/v1/places/locate?lat={glat}&lng={glng}&coord_system=gcj02").json()
    assert r["grid_id"] == town.grids[0].pk and abs(r["lat"] - 31.335) < 1e-6
    assert c.get("/api/v1/places/locate?lat=200&lng=1").status_code == 400
    assert c.get("/api/v1/places/locate?lat=1&lng=1&coord_system=bd09").status_code == 400


def test_demo_grids_tile_the_outline_without_gaps_or_overlaps():
    cells = geography.grid_cells()
    assert len(cells) >= 40
    union = unary_union(cells)
    # Vertices are rounded to 6 decimals (~0.1 m), so the outline matches to that precision.
    assert abs(union.area - geography.OUTLINE.area) / geography.OUTLINE.area < 1e-4
    assert union.geom_type == "Polygon" and len(union.interiors) == 0  # no gaps inside
    assert abs(sum(c.area for c in cells) - union.area) / union.area < 1e-9  # no overlaps
    assert all(c.is_valid and c.geom_type == "Polygon" for c in cells)


def test_map_layers_are_geojson_of_the_users_subdistrict(town, other_town, client_for):
    data = client_for(town.users["leader"]).get("/api/v1/places/map").json()
    codes = {f["properties"]["code"] for f in data["grids"]["features"]}
    assert codes == {"T1-1", "T1-2"}
    assert all(shape(f["geometry"]).is_valid for f in data["grids"]["features"])


def test_nearest_place_follows_place_writes(town):
    """The address index is cached per process; a building written through the ORM (signal) bumps
    places_version, so the next lookup with the fresh sub-district row sees it."""
    from jiedao.kernel.models import Subdistrict
    from jiedao.places.geo import nearest_place_label
    from jiedao.places.services import place_create

    def label(lat, lng):
        sub = Subdistrict.objects.get(pk=town.sub.pk)
        return nearest_place_label(subdistrict_id=sub.pk, lat=lat, lng=lng, version=sub.places_version)

    assert label(31.3351, 121.5051) == ""
    building = place_create(actor=None, kind="building", subdistrict=town.sub, name="3号楼", lat=31.3350,
                            lng=121.5050, address="测试路3号")
    assert label(31.3351, 121.5051) == "测试路3号（3号楼附近）"
    assert label(31.3400, 121.5051) == ""  # 550 m away: not a description of the place
    building.lat = 31.3400
    building.save()
    assert label(31.3401, 121.5051) == "测试路3号（3号楼附近）"
    building.delete()
    assert label(31.3401, 121.5051) == ""


def test_locate_api_says_where_a_point_is_in_words(town, client_for):
    """The phone report shows the grid and the nearest address for a GPS fix or a tap (cases/pickmap.js)."""
    from jiedao.places.services import place_create

    place_create(actor=None, kind="building", subdistrict=town.sub, name="3号楼", lat=31.3351, lng=121.5051,
                 address="测试路3号")
    r = client_for(town.users["grid_worker"]).get("/api/v1/places/locate?lat=31.335&lng=121.505").json()
    assert r["grid_name"] == town.grids[0].name and r["address"] == "测试路3号（3号楼附近）"
    far = client_for(town.users["grid_worker"]).get("/api/v1/places/locate?lat=1&lng=1").json()
    assert far["grid_id"] is None and far["address"] == ""
