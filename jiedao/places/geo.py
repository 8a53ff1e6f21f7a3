"""Point → grid lookup with a shapely STRtree, cached per sub-district.

The cache is per process, keyed by ``Subdistrict.places_version``: every
grid write bumps the version, so each process rebuilds its tree the next
time it looks something up (one primary-key read per lookup batch).

The polygons are also kept prepared in a numpy array. A sub-district has a
few dozen grids, and for one point testing all of them in a single
``shapely.intersects_xy`` call is about 4× faster than an STRtree query (which
pays for a ``Point`` object and the query's Python overhead); above
``SCAN_LIMIT`` polygons the tree wins and is used. Both test *intersects*, so
a point on a shared edge matches both grids and the lowest id wins either way.
Measured in bench/point_in_grid.py (docs/performance.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Point, shape
from shapely.strtree import STRtree

SCAN_LIMIT = 256  # up to this many grids, locate() scans prepared polygons instead of querying the tree


@dataclass
class GridIndex:
    version: int
    grid_ids: list[int]
    polygons: list
    tree: STRtree
    _prepared: np.ndarray = field(init=False, repr=False)
    _ids: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._prepared = np.array(self.polygons, dtype=object)
        shapely.prepare(self._prepared)
        self._ids = np.array(self.grid_ids, dtype=np.int64)

    def locate(self, lat: float, lng: float) -> int | None:
        if len(self.grid_ids) <= SCAN_LIMIT:
            hits = np.flatnonzero(shapely.intersects_xy(self._prepared, float(lng), float(lat)))
        else:
            hits = self.tree.query(Point(lng, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        # On a shared edge the lowest id wins, so the answer is stable.
        return min(self.grid_ids[i] for i in hits.tolist())

    def locate_many(self, lats, lngs) -> list[int | None]:
        xs = np.asarray(lngs if hasattr(lngs, "__len__") else list(lngs), dtype=np.float64).ravel()
        ys = np.asarray(lats if hasattr(lats, "__len__") else list(lats), dtype=np.float64).ravel()
        if len(xs) != len(ys):
            raise ValueError("lats and lngs differ in length")
        # Bounding-box candidates from the tree, then the exact test on the prepared polygons.
        point_idx, poly_idx = self.tree.query(shapely.points(xs, ys))
        keep = shapely.intersects_xy(self._prepared[poly_idx], xs[point_idx], ys[point_idx])
        point_idx, gids = point_idx[keep], self._ids[poly_idx[keep]]
        # Lowest grid id per point: sort by (point, id) and take each point's first row.
        order = np.lexsort((gids, point_idx))
        point_idx, gids = point_idx[order], gids[order]
        first = np.ones(len(point_idx), dtype=bool)
        first[1:] = point_idx[1:] != point_idx[:-1]
        out: list[int | None] = [None] * len(xs)
        for p, g in zip(point_idx[first].tolist(), gids[first].tolist(), strict=True):
            out[p] = g
        return out


_lock = threading.Lock()
_cache: dict[int, GridIndex] = {}


def build_index(subdistrict_id: int, version: int) -> GridIndex:
    from .models import Grid

    rows = list(Grid.objects.filter(subdistrict_id=subdistrict_id).order_by("id").values_list("id", "geometry"))
    polygons = [shape(geom) for _, geom in rows]
    return GridIndex(version, [gid for gid, _ in rows], polygons, STRtree(polygons))


def _places_version(subdistrict_id: int) -> int:
    from jiedao.kernel.models import Subdistrict

    return Subdistrict.objects.filter(pk=subdistrict_id).values_list("places_version", flat=True).first() or 0


def grid_index(subdistrict_id: int, version: int | None = None) -> GridIndex:
    """``version``: the sub-district's ``places_version`` when the caller has loaded the row (saves a query)."""
    return _cached(_cache, build_index, subdistrict_id, version)


def _cached(cache: dict, build, subdistrict_id: int, version: int | None):
    """The sub-district's index from ``cache``, (re)built by ``build`` when ``places_version`` moved on."""
    if version is None:
        version = _places_version(subdistrict_id)
    index = cache.get(subdistrict_id)
    if index is None or index.version != version:
        with _lock:
            index = cache.get(subdistrict_id)
            if index is None or index.version != version:
                index = build(subdistrict_id, version)
                cache[subdistrict_id] = index
    return index


def grid_for_point(*, subdistrict_id: int, lat: float, lng: float, version: int | None = None) -> int | None:
    return grid_index(subdistrict_id, version).locate(lat, lng)


# --- the nearest named place (an address for a reported point) -----------------------------------------------
NEAR_M = 150.0  # farther than this, a place does not describe where the point is


@dataclass
class PlaceIndex:
    """Buildings and premises of one sub-district as arrays, for "the nearest named place" without a query."""

    version: int
    lat: np.ndarray
    lng: np.ndarray
    labels: list[str]

    def nearest(self, lat: float, lng: float, within_m: float = NEAR_M) -> str:
        if not self.labels:
            return ""
        # Equirectangular distance: exact enough within a few hundred metres, and one vector expression.
        k = 6_371_000 * np.pi / 180
        dy = (self.lat - lat) * k
        dx = (self.lng - lng) * k * np.cos(np.radians(lat))
        d2 = dx * dx + dy * dy
        i = int(np.argmin(d2))  # ties: the first in (buildings, then premises) by id
        return self.labels[i] if d2[i] < within_m * within_m else ""


_place_cache: dict[int, PlaceIndex] = {}


def build_place_index(subdistrict_id: int, version: int) -> PlaceIndex:
    from .models import Building, Premises

    lat, lng, labels = [], [], []
    for model in (Building, Premises):
        for name, address, la, ln in model.objects.filter(
                subdistrict_id=subdistrict_id, lat__isnull=False, lng__isnull=False).order_by("id").values_list(
                "name", "address", "lat", "lng"):
            lat.append(la)
            lng.append(ln)
            labels.append(f"{address}（{name}附近）" if address else f"{name}附近")
    return PlaceIndex(version, np.array(lat, dtype=float), np.array(lng, dtype=float), labels)


def nearest_place_label(*, subdistrict_id: int, lat: float, lng: float, version: int | None = None) -> str:
    """"<address>（<name>附近）" of the nearest building or premises within ``NEAR_M``, or "". Cached per process
    like the grid index, keyed by ``places_version`` (bumped by every place write, see places.signals)."""
    return _cached(_place_cache, build_place_index, subdistrict_id, version).nearest(lat, lng)
