"""Benchmark: point → grid over the 49 demo grids of 新江湾城.

    .venv/bin/python bench/point_in_grid.py [--points 100000] [--naive-points N] [--repeat 3] [--seed 7]

100,000 random points (fixed seed) in the outline's bounding box are assigned
to grids, and the answers compared, by:

* ``GridIndex.locate`` — one point at a time (what saving a form does);
* ``GridIndex.locate_many`` — vectorised (imports, demo data);
* for reference, the STRtree calls ``locate``/``locate_many`` made before they
  were optimised (``tree.query(Point, predicate="intersects")`` per point, and the
  bulk query with a Python loop picking the lowest id);
* ``grid_for_point`` — what a service calls: one primary-key read of the
  sub-district's places version, then ``locate`` (timed on 5,000 points);
* naive — ``Polygon.contains`` of every polygon for every point, lowest id on a
  tie, on fresh (unprepared) polygons read from the database. With 49 grids it
  takes a couple of seconds for all points; ``--naive-points N`` times it on the
  first N points only and extrapolates the rate to the full set (the output says so).

Each timing is the best of ``--repeat`` runs (the machine may be shared).
``contains`` and the index's ``intersects`` differ only for a point exactly on
a grid edge; with random doubles that does not happen, and any disagreement is
printed and fails the run.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import _common


def best_of(repeat: int, fn):
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def naive_locate(grid_ids, polygons, lat, lng):
    from shapely.geometry import Point

    p = Point(lng, lat)
    best = None
    for gid, poly in zip(grid_ids, polygons, strict=True):
        if poly.contains(p) and (best is None or gid < best):
            best = gid
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--naive-points", type=int, default=None, help="default: all points")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    t0 = time.perf_counter()
    backend = _common.setup_django()
    sub = _common.build_world().sub
    setup_s = time.perf_counter() - t0

    import shapely
    from shapely.geometry import Point, shape
    from shapely.strtree import STRtree

    from jiedao.demo import geography as geo
    from jiedao.places.geo import _cache, build_index, grid_for_point, grid_index
    from jiedao.places.models import Grid

    version = grid_index(sub.pk).version
    _cache.clear()
    build_s, index = best_of(1, lambda: build_index(sub.pk, version))
    n_grids = len(index.grid_ids)

    rnd = random.Random(args.seed)
    minx, miny, maxx, maxy = geo.OUTLINE.bounds
    lngs = [rnd.uniform(minx, maxx) for _ in range(args.points)]
    lats = [rnd.uniform(miny, maxy) for _ in range(args.points)]
    n = args.points

    # Fresh, unprepared copies for the reference loops (the index prepares its polygons in place).
    rows = list(Grid.objects.filter(subdistrict=sub).order_by("id").values_list("id", "geometry"))
    ref_ids, ref_polys = [gid for gid, _ in rows], [shape(g) for _, g in rows]
    ref_tree = STRtree(ref_polys)

    def tree_per_point():
        out = []
        for la, lo in zip(lats, lngs, strict=True):
            hits = ref_tree.query(Point(lo, la), predicate="intersects")
            out.append(min(ref_ids[i] for i in hits) if len(hits) else None)
        return out

    def tree_bulk_loop():
        p_idx, g_idx = ref_tree.query(shapely.points(list(lngs), list(lats)), predicate="intersects")
        out = [None] * n
        for p, g in zip(p_idx.tolist(), g_idx.tolist(), strict=True):
            gid = ref_ids[g]
            if out[p] is None or gid < out[p]:
                out[p] = gid
        return out

    n_naive = min(args.naive_points or n, n)
    timings = {}
    timings["locate"], one = best_of(args.repeat, lambda: [index.locate(a, b) for a, b in zip(lats, lngs, strict=True)])
    timings["locate_many"], many = best_of(args.repeat, lambda: index.locate_many(lats, lngs))
    timings["tree_point"], old_one = best_of(args.repeat, tree_per_point)
    timings["tree_bulk"], old_many = best_of(args.repeat, tree_bulk_loop)
    n_api = min(5_000, n)
    timings["api"], api = best_of(args.repeat, lambda: [
        grid_for_point(subdistrict_id=sub.pk, lat=lats[i], lng=lngs[i]) for i in range(n_api)])
    timings["naive"], naive = best_of(
        args.repeat, lambda: [naive_locate(ref_ids, ref_polys, lats[i], lngs[i]) for i in range(n_naive)])

    bad = [i for i in range(n) if not (one[i] == many[i] == old_one[i] == old_many[i])]
    bad += [i for i in range(n_naive) if naive[i] != one[i]]
    bad += [i for i in range(n_api) if api[i] != one[i]]
    inside = sum(1 for g in one if g is not None)
    naive_rate = n_naive / timings["naive"]

    print(f"machine: {_common.machine()}; database: {backend}; shapely {shapely.__version__} "
          f"(GEOS {shapely.geos_version_string})")
    print(f"set-up (migrate, grids, compounds): {setup_s:.1f} s; index build ({n_grids} grids): {build_s * 1000:.1f} ms")
    print(f"points: {n:,} (seed {args.seed}), {inside:,} inside a grid, {n - inside:,} outside the outline; "
          f"best of {args.repeat}")
    print()
    print(f"{'method':<52}{'points':>9}{'seconds':>9}{'points/s':>12}{'vs naive':>10}")
    table = [
        ("GridIndex.locate(), one point at a time", n, timings["locate"]),
        ("GridIndex.locate_many(), vectorised", n, timings["locate_many"]),
        ("  ref: STRtree.query(Point) per point (old locate)", n, timings["tree_point"]),
        ("  ref: STRtree bulk query + Python loop (old many)", n, timings["tree_bulk"]),
        ("grid_for_point(): version read from the DB + locate", n_api, timings["api"]),
        (f"naive: Polygon.contains × {n_grids} polygons per point", n_naive, timings["naive"]),
    ]
    for label, count, secs in table:
        rate = count / secs
        print(f"{label:<52}{count:>9,}{secs:>9.3f}{rate:>12,.0f}{rate / naive_rate:>9.1f}×")
    if n_naive < n:
        print(f"(naive timed on the first {n_naive:,} points only; all {n:,} would take "
              f"≈{n / naive_rate:.1f} s, extrapolated at the same rate)")
    print(f"locate_many / locate: {timings['locate'] / timings['locate_many']:.1f}×")
    if bad:
        i = bad[0]
        print(f"DISAGREEMENT on {len(bad)} points, e.g. #{i}: locate={one[i]} locate_many={many[i]} "
              f"old={old_one[i]}/{old_many[i]}" + (f" naive={naive[i]}" if i < n_naive else ""))
        return 1
    print(f"answers agree: all methods on {n:,} points (naive on {n_naive:,}, grid_for_point on {n_api:,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
