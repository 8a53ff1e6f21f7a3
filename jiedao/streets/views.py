"""Pages of 路长制·河长制·美丽街区: roads with their policies and patrols, rivers with dredging and drone
flights, improvement projects. Thin: parse, call a service or selector, render."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from jiedao.cases.models import CaseCategory
from jiedao.inspections.models import Inspection
from jiedao.kernel.exceptions import DomainError, PermissionDeniedError
from jiedao.kernel.scoping import user_scope
from jiedao.places.models import River, Road

from . import selectors, services
from .models import DronePhoto, ImprovementProject, Milestone, ProjectPhoto


def _require(request, cap="inspections.view"):
    if not user_scope(request.user).has(cap):
        raise PermissionDeniedError("forbidden", _("您没有使用该功能的权限。"), capability=cap, actor=request.user)


def _date(value, default=None):
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return default


def roads(request):
    _require(request)
    rows = Road.objects.visible_to(request.user).select_related("chief").order_by("road_class", "name")
    return render(request, "streets/roads.html", {"roads": rows})


def road_detail(request, road_id: int):
    _require(request)
    road = selectors.road_get_visible(user=request.user, road_id=road_id)
    if request.method == "POST":
        try:
            services.road_policy_save(actor=request.user, road=road, problems=request.POST.get("problems", ""),
                                      measures=request.POST.get("measures", ""), targets=request.POST.get("targets", ""),
                                      effective_from=_date(request.POST.get("effective_from"), dt.date.today()))
            messages.success(request, _("已保存新版本的一路一策。"))
        except PermissionDeniedError:
            raise
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("streets:road", road_id=road.pk)
    patrols = Inspection.objects.visible_to(request.user).filter(target_type="road", target_id=road.pk) \
        .select_related("template", "inspector").order_by("-finished_at")[:30]
    return render(request, "streets/road.html", {
        "road": road, "policies": road.policies.select_related("author"), "patrols": patrols,
        "projects": road.projects.all(), "can_edit": user_scope(request.user).has("inspections.manage")
        or road.chief_id == request.user.pk})


def rivers(request):
    _require(request)
    rows = River.objects.visible_to(request.user).select_related("chief").order_by("name")
    return render(request, "streets/rivers.html", {"rivers": rows})


def river_detail(request, river_id: int):
    _require(request)
    river = selectors.river_get_visible(user=request.user, river_id=river_id)
    report = None
    if request.method == "POST":
        try:
            if request.POST.get("form") == "dredging":
                services.dredging_record(actor=request.user, river=river, date=_date(request.POST.get("date"),
                                                                                     dt.date.today()),
                                         length_m=float(request.POST.get("length_m") or 0),
                                         volume_m3=float(request.POST.get("volume_m3") or 0),
                                         contractor=request.POST.get("contractor", ""), notes=request.POST.get("notes", ""))
                messages.success(request, _("已记录疏浚。"))
                return redirect("streets:river", river_id=river.pk)
            report = services.drone_flight_import(actor=request.user, river=river,
                                                  flown_on=_date(request.POST.get("flown_on"), dt.date.today()),
                                                  files=request.FILES.getlist("photos"),
                                                  pilot=request.POST.get("pilot", ""))
        except PermissionDeniedError:
            raise
        except (DomainError, ValueError) as exc:
            messages.error(request, getattr(exc, "message", "请填写正确的数值。"))
            return redirect("streets:river", river_id=river.pk)
    patrols = Inspection.objects.visible_to(request.user).filter(target_type="river", target_id=river.pk) \
        .select_related("template", "inspector").order_by("-finished_at")[:30]
    photos = DronePhoto.objects.visible_to(request.user).filter(flight__river=river).select_related("flight", "case") \
        .order_by("-flight__flown_on", "id")[:200]
    categories = CaseCategory.objects.visible_to(request.user).filter(is_leaf=True, parent__code="I01")
    can_edit = user_scope(request.user).has("inspections.manage") or river.chief_id == request.user.pk
    return render(request, "streets/river.html", {
        "river": river, "dredgings": river.dredgings.all()[:50], "flights": river.flights.all()[:20], "photos": photos,
        "patrols": patrols, "report": report, "can_edit": can_edit, "categories": categories,
        "photo_points": [{"id": p.pk, "lat": p.lat, "lng": p.lng, "marked": p.marked, "name": p.original_name}
                         for p in photos]})


@require_POST
def drone_mark(request, photo_id: int):
    photo = selectors.drone_photo_get_visible(user=request.user, photo_id=photo_id)
    category = CaseCategory.objects.visible_to(request.user).filter(pk=request.POST.get("category_id") or 0).first()
    try:
        services.drone_photo_mark(actor=request.user, photo=photo, note=request.POST.get("note", ""), category=category)
        messages.success(request, _("已标记，并已生成案件。"))
    except PermissionDeniedError:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("streets:river", river_id=photo.flight.river_id)


def drone_photo(request, photo_id: int, variant: str):
    photo = selectors.drone_photo_get_visible(user=request.user, photo_id=photo_id)
    field = photo.thumbnail if variant == "thumb" else photo.image
    return FileResponse(field.open("rb"), content_type="image/jpeg")


def projects(request):
    _require(request)
    rows = ImprovementProject.objects.visible_to(request.user).select_related("road").prefetch_related("milestones")
    return render(request, "streets/projects.html", {"projects": rows})


def project_detail(request, project_id: int):
    _require(request)
    project = selectors.project_get_visible(user=request.user, project_id=project_id)
    if request.method == "POST":
        try:
            if request.POST.get("form") == "accept":
                ins = Inspection.objects.visible_to(request.user).filter(pk=request.POST.get("inspection_id") or 0).first()
                if ins is None:
                    raise DomainError("not_found", "请选择验收检查记录。")
                services.project_accept(actor=request.user, project=project, inspection=ins)
                messages.success(request, _("项目已验收。"))
            else:
                milestone = Milestone.objects.filter(project=project, pk=request.POST.get("milestone_id") or 0).first()
                if milestone is None:
                    raise DomainError("not_found", "节点不存在。")
                services.milestone_progress(actor=request.user, milestone=milestone,
                                            progress=int(request.POST.get("progress") or 0),
                                            spent=request.POST.get("spent") or None,
                                            photos=request.FILES.getlist("photos"))
                messages.success(request, _("已更新进度。"))
        except PermissionDeniedError:
            raise
        except (DomainError, ValueError) as exc:
            messages.error(request, getattr(exc, "message", "请填写正确的数值。"))
        return redirect("streets:project", project_id=project.pk)
    acceptances = Inspection.objects.visible_to(request.user).filter(
        template__kind="acceptance", target_type="road", target_id=project.road_id or 0).order_by("-finished_at")[:10]
    return render(request, "streets/project.html", {
        "project": project, "milestones": project.milestones.all(), "photos": project.photos.all(),
        "acceptances": acceptances, "can_edit": user_scope(request.user).has("inspections.manage")})


def project_photo(request, photo_id: int, variant: str):
    photo = ProjectPhoto.objects.filter(pk=photo_id,
                                        project__in=ImprovementProject.objects.visible_to(request.user)).first()
    if photo is None:
        raise Http404
    field = photo.thumbnail if variant == "thumb" else photo.image
    return FileResponse(field.open("rb"), content_type="image/jpeg")
