"""Point → grid lookup with a shapely STRtree, cached per sub-district.

The cache is per process, keyed by ``Subdistrict.places_version``: every
grid write bumps the version, so each process rebuilds its tree the next
time it looks something up (one primary-key read per lookup batch).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import shapely
from shapely.geometry import Point, shape
from shapely.strtree import STRtree


@dataclass
class GridIndex:
    version: int
    grid_ids: list[int]
    polygons: list
    tree: STRtree

    def locate(self, lat: float, lng: float) -> int | None:
        hits = self.tree.query(Point(lng, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        # On a shared edge the lowest id wins, so the answer is stable.
        return min(self.grid_ids[i] for i in hits)

    def locate_many(self, lats, lngs) -> list[int | None]:
        points = shapely.points(list(lngs), list(lats))
        point_idx, poly_idx = self.tree.query(points, predicate="intersects")
        out: list[int | None] = [None] * len(points)
        for p, g in zip(point_idx.tolist(), poly_idx.tolist(), strict=True):
            gid = self.grid_ids[g]
            if out[p] is None or gid < out[p]:
                out[p] = gid
        return out


_lock = threading.Lock()
_cache: dict[int, GridIndex] = {}


def build_index(subdistrict_id: int, version: int) -> GridIndex:
    from .models import Grid

    rows = list(Grid.objects.filter(subdistrict_id=subdistrict_id).order_by("id").values_list("id", "geometry"))
    polygons = [shape(geom) for _, geom in rows]
    return GridIndex(version, [gid for gid, _ in rows], polygons, STRtree(polygons))


def grid_index(subdistrict_id: int) -> GridIndex:
    from jiedao.kernel.models import Subdistrict

    version = Subdistrict.objects.filter(pk=subdistrict_id).values_list("places_version", flat=True).first() or 0
    index = _cache.get(subdistrict_id)
    if index is None or index.version != version:
        with _lock:
            index = _cache.get(subdistrict_id)
            if index is None or index.version != version:
                index = build_index(subdistrict_id, version)
                _cache[subdistrict_id] = index
    return index


def grid_for_point(*, subdistrict_id: int, lat: float, lng: float) -> int | None:
    return grid_index(subdistrict_id).locate(lat, lng)
