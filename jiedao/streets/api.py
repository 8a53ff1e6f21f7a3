"""/api/v1/streets: one-road-one-policy, dredging log, drone flights, improvement projects."""

import datetime as dt
from decimal import Decimal

from ninja import File, Form, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status
from pydantic import Field

from . import selectors, services
from .models import ImprovementProject

router = Router(tags=["streets"])


class PolicyOut(Schema):
    id: int
    version: int
    problems: str
    measures: str
    targets: str
    effective_from: dt.date
    author_id: int


class PolicyIn(Schema):
    problems: str = Field(min_length=1, max_length=4000)
    measures: str = Field(min_length=1, max_length=4000)
    targets: str = Field(min_length=1, max_length=4000)
    effective_from: dt.date


class DredgingOut(Schema):
    id: int
    date: dt.date
    length_m: float
    volume_m3: float
    contractor: str
    notes: str


class DredgingIn(Schema):
    date: dt.date
    length_m: float
    volume_m3: float
    contractor: str = Field(min_length=1, max_length=128)
    notes: str = ""


class DroneImportOut(Schema):
    flight_id: int
    imported: list[dict]
    errors: list[dict]


class ProjectOut(Schema):
    id: int
    name: str
    road_id: int | None
    budget: Decimal
    spent: Decimal
    start_date: dt.date
    end_date: dt.date
    status: str
    milestones: list[dict]

    @staticmethod
    def resolve_milestones(obj):
        return [{"name": m.name, "due": m.due.isoformat(), "progress": m.progress,
                 "done_on": m.done_on.isoformat() if m.done_on else None} for m in obj.milestones.all()]


@router.get("/roads/{road_id}/policies", response=list[PolicyOut])
def policies(request, road_id: int):
    return list(selectors.road_get_visible(user=request.user, road_id=road_id).policies.all())


@router.post("/roads/{road_id}/policies", response={201: PolicyOut})
def policy_new(request, road_id: int, payload: PolicyIn):
    road = selectors.road_get_visible(user=request.user, road_id=road_id)
    return Status(201, services.road_policy_save(actor=request.user, road=road, **payload.dict()))


@router.get("/rivers/{river_id}/dredging", response=list[DredgingOut])
def dredgings(request, river_id: int):
    return list(selectors.river_get_visible(user=request.user, river_id=river_id).dredgings.all())


@router.post("/rivers/{river_id}/dredging", response={201: DredgingOut})
def dredging_new(request, river_id: int, payload: DredgingIn):
    river = selectors.river_get_visible(user=request.user, river_id=river_id)
    return Status(201, services.dredging_record(actor=request.user, river=river, **payload.dict()))


@router.post("/rivers/{river_id}/drone-flights", response={201: DroneImportOut})
def drone_flight(request, river_id: int, flown_on: Form[dt.date], photos: File[list[UploadedFile]],
                 pilot: Form[str] = ""):
    """A flight's photos (multipart). Photos with a GPS position are imported; the others are listed with why."""
    river = selectors.river_get_visible(user=request.user, river_id=river_id)
    result = services.drone_flight_import(actor=request.user, river=river, flown_on=flown_on, files=photos, pilot=pilot)
    return Status(201, {"flight_id": result.flight.pk, "errors": result.errors, "imported": [
        {"id": p.pk, "file": p.original_name, "lat": p.lat, "lng": p.lng,
         "taken_at": p.taken_at.isoformat() if p.taken_at else None} for p in result.imported]})


@router.get("/projects", response=list[ProjectOut])
def projects(request):
    return list(ImprovementProject.objects.visible_to(request.user).prefetch_related("milestones"))
