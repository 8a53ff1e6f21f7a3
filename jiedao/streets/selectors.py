from __future__ import annotations

from jiedao.kernel.exceptions import NotFound
from jiedao.places.models import River, Road

from .models import DronePhoto, ImprovementProject


def road_get_visible(*, user, road_id: int) -> Road:
    road = Road.objects.visible_to(user).select_related("chief").filter(pk=road_id).first()
    if road is None:
        raise NotFound("not_found", "道路不存在。")
    return road


def river_get_visible(*, user, river_id: int) -> River:
    river = River.objects.visible_to(user).select_related("chief").filter(pk=river_id).first()
    if river is None:
        raise NotFound("not_found", "河道不存在。")
    return river


def project_get_visible(*, user, project_id: int) -> ImprovementProject:
    project = ImprovementProject.objects.visible_to(user).select_related("road", "acceptance").filter(pk=project_id).first()
    if project is None:
        raise NotFound("not_found", "项目不存在。")
    return project


def drone_photo_get_visible(*, user, photo_id: int) -> DronePhoto:
    photo = DronePhoto.objects.visible_to(user).select_related("flight", "flight__river").filter(pk=photo_id).first()
    if photo is None:
        raise NotFound("not_found", "照片不存在。")
    return photo
