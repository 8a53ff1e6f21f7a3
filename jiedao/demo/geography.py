"""A plausible outline of 新江湾城 and the places in it (WGS-84), made deterministically.

Not survey data: shapes are simplified so the demo looks like the area
(about 31.318–31.346 N, 121.488–121.527 E) and every rule has data to act on.
"""

from __future__ import annotations

from shapely.geometry import LineString, Polygon, box, mapping
from shapely.ops import unary_union

OUTLINE = Polygon([
    (121.4885, 31.3225), (121.4950, 31.3180), (121.5080, 31.3175), (121.5195, 31.3200),
    (121.5270, 31.3265), (121.5262, 31.3378), (121.5190, 31.3455), (121.5045, 31.3462),
    (121.4930, 31.3420), (121.4880, 31.3330),
])

# Real road names of the area; lines are simplified (lng, lat).
ROADS = [
    ("淞沪路", "arterial", [(121.5040, 31.3175), (121.5048, 31.3300), (121.5055, 31.3460)]),
    ("殷行路", "arterial", [(121.4885, 31.3290), (121.5060, 31.3296), (121.5268, 31.3300)]),
    ("国和路", "arterial", [(121.5150, 31.3190), (121.5160, 31.3320), (121.5170, 31.3452)]),
    ("闸殷路", "secondary", [(121.4890, 31.3360), (121.5050, 31.3372), (121.5255, 31.3385)]),
    ("政青路", "secondary", [(121.4920, 31.3210), (121.4930, 31.3330), (121.4945, 31.3420)]),
    ("政立路", "secondary", [(121.4950, 31.3230), (121.5045, 31.3235), (121.5190, 31.3240)]),
    ("政学路", "secondary", [(121.4975, 31.3185), (121.4985, 31.3300), (121.4995, 31.3445)]),
    ("民府路", "secondary", [(121.5100, 31.3178), (121.5105, 31.3300), (121.5110, 31.3458)]),
    ("国帆路", "alley", [(121.5060, 31.3410), (121.5180, 31.3418)]),
    ("国晓路", "alley", [(121.5210, 31.3215), (121.5220, 31.3380)]),
    ("江湾城路", "alley", [(121.4940, 31.3265), (121.5040, 31.3268)]),
    ("嫩江路", "alley", [(121.5165, 31.3340), (121.5260, 31.3345)]),
    ("政府路", "alley", [(121.4890, 31.3250), (121.4975, 31.3255)]),
    ("中原路", "alley", [(121.5060, 31.3330), (121.5150, 31.3335)]),
]

RIVERS = [
    ("小吉浦", [(121.4900, 31.3405), (121.5000, 31.3395), (121.5120, 31.3400), (121.5200, 31.3430)]),
    ("南北河", [(121.5120, 31.3185), (121.5125, 31.3280), (121.5130, 31.3395)]),
    ("东新市河", [(121.5240, 31.3230), (121.5235, 31.3310)]),
]


def grid_cells(cols: int = 8, rows: int = 7) -> list[Polygon]:
    """Tile the outline with a lattice clipped to it; slivers merge into their longest-edge neighbour."""
    minx, miny, maxx, maxy = OUTLINE.bounds
    w, h = (maxx - minx) / cols, (maxy - miny) / rows
    full = w * h
    cells = []
    for r in range(rows):
        for c in range(cols):
            piece = OUTLINE.intersection(box(minx + c * w, miny + r * h, minx + (c + 1) * w, miny + (r + 1) * h))
            if not piece.is_empty and piece.area > 0:
                cells.append(piece)
    changed = True
    while changed:
        changed = False
        for i, cell in enumerate(cells):
            if cell.area < 0.3 * full:
                best, best_len = None, 0.0
                for j, other in enumerate(cells):
                    if j != i:
                        length = cell.boundary.intersection(other.boundary).length
                        if length > best_len:
                            best, best_len = j, length
                if best is not None:
                    cells[best] = unary_union([cells[best], cell])
                    del cells[i]
                    changed = True
                    break
    out = []
    for cell in cells:
        if cell.geom_type != "Polygon":  # a union can come out as a MultiPolygon; keep its hull part
            cell = max(cell.geoms, key=lambda g: g.area)
        out.append(Polygon([(round(x, 6), round(y, 6)) for x, y in cell.exterior.coords]))
    # Order north-west → south-east so grid codes read like a map.
    out.sort(key=lambda p: (-round(p.centroid.y, 3), p.centroid.x))
    return out


def geojson(geom) -> dict:
    return mapping(geom) if not isinstance(geom, dict) else geom


def line(coords) -> LineString:
    return LineString(coords)
