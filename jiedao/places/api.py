from typing import Literal

from django.utils.translation import gettext as _
from ninja import Router
from ninja.pagination import LimitOffsetPagination, paginate

from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.scoping import user_scope

from . import selectors
from .coords import to_wgs84
from .geo import grid_for_point, nearest_place_label
from .models import Grid
from .schemas import LocateOut, PlaceOut

router = Router(tags=["places"])
Kind = Literal["grid", "compound", "building", "premises", "road", "river"]


@router.get("/map", response=dict)
def map_layers(request):
    """GeoJSON layers of the home map (WGS-84)."""
    return selectors.map_layers(user=request.user)


@router.get("/locate", response=LocateOut)
def locate(request, lat: float, lng: float, coord_system: Literal["wgs84", "gcj02"] = "wgs84"):
    """Which grid a point lies in; ``coord_system=gcj02`` for points from Chinese map apps."""
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise DomainError("invalid_coordinates", _("坐标超出范围。"))
    wlat, wlng = to_wgs84(lat, lng, coord_system)
    scope = user_scope(request.user)
    grid, address = None, ""
    for sub_id in sorted(scope.subdistrict_ids):
        gid = grid_for_point(subdistrict_id=sub_id, lat=wlat, lng=wlng)
        if gid:
            grid = Grid.objects.visible_to(request.user).filter(pk=gid).first()
            address = nearest_place_label(subdistrict_id=sub_id, lat=wlat, lng=wlng)
            break
    return {"lat": wlat, "lng": wlng, "grid_id": grid.pk if grid else None, "grid_code": grid.code if grid else None,
            "grid_name": grid.name if grid else None, "address": address}


@router.get("/{kind}", response=list[PlaceOut])
@paginate(LimitOffsetPagination)
def place_list(request, kind: Kind, q: str = "", grid_id: int | None = None):
    return selectors.place_list(user=request.user, kind=kind, q=q, grid_id=grid_id)


@router.get("/{kind}/{place_id}", response=PlaceOut)
def place_detail(request, kind: Kind, place_id: int):
    return selectors.place_get_visible(user=request.user, kind=kind, place_id=place_id)
