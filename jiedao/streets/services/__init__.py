"""Writes of the streets chapter: each audited, each checking the capability (and, for chiefs, their own road
or river)."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from jiedao.cases.services.intake import case_report_finding
from jiedao.cases.services.photos import MAX_BYTES
from jiedao.kernel.audit import audit_record
from jiedao.kernel.exceptions import DomainError, PermissionDeniedError
from jiedao.kernel.permissions import require_capability
from jiedao.kernel.scoping import user_scope

from ..models import DredgingRecord, DroneFlight, DronePhoto, ImprovementProject, Milestone, ProjectStatus, RoadPolicy

GPS_IFD, EXIF_IFD = 0x8825, 0x8769
DATETIME_ORIGINAL = 36867


def _chief_or_manager(actor, place, cap_do: str = "inspections.do") -> None:
    """Managers edit every road or river; a chief edits their own."""
    if user_scope(actor).has("inspections.manage"):
        require_capability(actor, "inspections.manage", obj=place)
        return
    require_capability(actor, cap_do, obj=place)
    if place.chief_id != actor.pk:
        raise PermissionDeniedError("not_your_place", _("只有本路（河）的路长（河长）或管理人员可以操作。"),
                                    capability="chief_of_place", obj=place, actor=actor)


@transaction.atomic
def road_policy_save(*, actor, road, problems: str, measures: str, targets: str, effective_from: dt.date) -> RoadPolicy:
    """一路一策: every save is a new version; earlier versions stay as they were."""
    _chief_or_manager(actor, road)
    if not (problems.strip() and measures.strip() and targets.strip()):
        raise DomainError("invalid_input", _("请填写存在问题、整治措施和工作目标。"))
    last = RoadPolicy.objects.filter(road=road).order_by("-version").first()
    policy = RoadPolicy.objects.create(subdistrict_id=road.subdistrict_id, road=road,
                                       version=(last.version + 1) if last else 1, problems=problems.strip(),
                                       measures=measures.strip(), targets=targets.strip(),
                                       effective_from=effective_from, author=actor)
    audit_record(actor=actor, action="road_policy.save", obj=policy, changes={"version": [None, policy.version]})
    return policy


@transaction.atomic
def dredging_record(*, actor, river, date: dt.date, length_m: float, volume_m3: float, contractor: str,
                    notes: str = "") -> DredgingRecord:
    _chief_or_manager(actor, river)
    if length_m <= 0 or volume_m3 <= 0 or not contractor.strip() or date > timezone.localdate():
        raise DomainError("invalid_input", _("请填写正确的日期、长度、疏浚量和施工单位。"))
    record = DredgingRecord.objects.create(subdistrict_id=river.subdistrict_id, river=river, date=date,
                                           length_m=length_m, volume_m3=volume_m3, contractor=contractor.strip(),
                                           notes=notes, recorded_by=actor)
    audit_record(actor=actor, action="dredging.record", obj=record,
                 changes={"length_m": [None, length_m], "volume_m3": [None, volume_m3]})
    return record


@dataclass
class DroneImport:
    flight: DroneFlight
    imported: list[DronePhoto] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # {"file", "message"}


def _dms(value) -> float:
    d, m, s = (float(x) for x in value)
    return d + m / 60 + s / 3600


def read_position(data: bytes) -> tuple[float, float, dt.datetime | None]:
    """GPS position and time from a photo's EXIF; ValueError with a message a pilot understands."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in {"JPEG", "PNG", "HEIF", "TIFF"}:
                raise ValueError(_("不是支持的照片格式"))
            exif = img.getexif()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(_("不是有效的图片")) from exc
    gps = exif.get_ifd(GPS_IFD)
    if not gps or 2 not in gps or 4 not in gps:
        raise ValueError(_("照片没有GPS位置（请在无人机上开启位置记录）"))
    try:
        lat, lng = _dms(gps[2]), _dms(gps[4])
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise ValueError(_("照片的GPS数据损坏")) from exc
    if gps.get(1) == "S":
        lat = -lat
    if gps.get(3) == "W":
        lng = -lng
    if not (3.8 < lat < 53.6 and 73.6 < lng < 135.1):
        raise ValueError(_("照片的GPS位置不在中国境内（%(lat).5f, %(lng).5f）") % {"lat": lat, "lng": lng})
    taken = None
    raw = exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL) or exif.get(306)
    if raw:
        try:
            taken = timezone.make_aware(dt.datetime.strptime(str(raw).strip("\x00"), "%Y:%m:%d %H:%M:%S"))
        except ValueError:
            taken = None
    return lat, lng, taken


def _thumb(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        img.thumbnail((320, 320))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=80)
        return buf.getvalue()


@transaction.atomic
def drone_flight_import(*, actor, river, flown_on: dt.date, files, pilot: str = "", notes: str = "") -> DroneImport:
    """Import a flight's photos. Photos with a usable GPS position go in; each other one is reported by name."""
    _chief_or_manager(actor, river)
    flight = DroneFlight.objects.create(subdistrict_id=river.subdistrict_id, river=river, flown_on=flown_on,
                                        pilot=pilot[:64], notes=notes, uploaded_by=actor)
    result = DroneImport(flight=flight)
    for f in list(files)[:500]:
        name = getattr(f, "name", "photo")[:128]
        data = f.read()
        if len(data) > MAX_BYTES * 3:
            result.errors.append({"file": name, "message": _("文件超过30MB")})
            continue
        try:
            lat, lng, taken = read_position(data)
        except ValueError as exc:
            result.errors.append({"file": name, "message": str(exc)})
            continue
        photo = DronePhoto(subdistrict_id=river.subdistrict_id, flight=flight, original_name=name, lat=lat, lng=lng,
                           taken_at=taken)
        key = uuid.uuid4().hex
        photo.image.save(f"{key}.jpg", ContentFile(data), save=False)
        photo.thumbnail.save(f"{key}-thumb.jpg", ContentFile(_thumb(data)), save=False)
        photo.save()
        result.imported.append(photo)
    audit_record(actor=actor, action="drone_flight.import", obj=flight, changes={
        "imported": [None, len(result.imported)], "errors": [None, len(result.errors)]})
    return result


@transaction.atomic
def drone_photo_mark(*, actor, photo: DronePhoto, note: str, category) -> DronePhoto:
    """Mark a problem on a drone photo: it opens one case at the photo's position."""
    if photo.flight.river is not None:
        _chief_or_manager(actor, photo.flight.river)
    else:
        require_capability(actor, "inspections.manage")
    if len(note.strip()) < 2:
        raise DomainError("invalid_input", _("请说明发现的问题。"))
    case, _created = case_report_finding(
        actor=None, subdistrict=photo.subdistrict,
        finding_ref=f"drone:{photo.pk}", category=category, lat=photo.lat, lng=photo.lng,
        description=f"无人机巡河发现：{note.strip()}（{photo.flight.flown_on}，{photo.original_name}）")
    DronePhoto.objects.filter(pk=photo.pk).update(marked=True, note=note.strip()[:255], case=case)
    audit_record(actor=actor, action="drone_photo.mark", obj=photo, changes={"case": [None, case.number]})
    photo.refresh_from_db()
    return photo


@transaction.atomic
def project_create(*, actor, subdistrict, name: str, budget, start_date, end_date, road=None, description: str = "",
                   milestones: list[tuple[str, dt.date]] = ()) -> ImprovementProject:
    if actor is not None:
        require_capability(actor, "inspections.manage")
    if end_date < start_date:
        raise DomainError("invalid_input", _("完工日期不能早于开工日期。"))
    project = ImprovementProject.objects.create(subdistrict=subdistrict, name=name, road=road, budget=budget,
                                                start_date=start_date, end_date=end_date, description=description)
    Milestone.objects.bulk_create([Milestone(project=project, name=n, due=d) for n, d in milestones])
    audit_record(actor=actor, action="project.create", obj=project, changes={"budget": [None, str(budget)]})
    return project


@transaction.atomic
def milestone_progress(*, actor, milestone: Milestone, progress: int, spent=None, photos=()) -> Milestone:
    require_capability(actor, "inspections.manage", obj=milestone.project)
    if not 0 <= progress <= 100:
        raise DomainError("invalid_input", _("进度应在0到100之间。"))
    from jiedao.cases.services.photos import check_photos

    checked = check_photos(photos)
    before = milestone.progress
    milestone.progress = progress
    milestone.done_on = timezone.localdate() if progress == 100 else None
    milestone.save(update_fields=["progress", "done_on"])
    project = milestone.project
    if project.status == ProjectStatus.PLANNED:
        project.status = ProjectStatus.IN_PROGRESS
    if spent is not None:
        project.spent = spent
    project.save(update_fields=["status", "spent"])
    from ..models import ProjectPhoto

    for data, _fmt in checked:
        p = ProjectPhoto(project=project, milestone=milestone)
        key = uuid.uuid4().hex
        p.image.save(f"{key}.jpg", ContentFile(data), save=False)
        p.thumbnail.save(f"{key}-thumb.jpg", ContentFile(_thumb(data)), save=False)
        p.save()
    audit_record(actor=actor, action="milestone.progress", obj=project,
                 changes={"milestone": [None, milestone.name], "progress": [before, progress]})
    return milestone


@transaction.atomic
def project_accept(*, actor, project: ImprovementProject, inspection) -> ImprovementProject:
    """Acceptance: a passed inspection with an acceptance checklist closes the project."""
    require_capability(actor, "inspections.manage", obj=project)
    if inspection.template.kind != "acceptance" or not inspection.passed:
        raise DomainError("acceptance_failed", _("验收检查未通过，项目不能验收。"))
    if project.milestones.exclude(progress=100).exists():
        raise DomainError("milestones_open", _("还有未完成的节点。"))
    project.acceptance = inspection
    project.status = ProjectStatus.ACCEPTED
    project.save(update_fields=["acceptance", "status"])
    audit_record(actor=actor, action="project.accept", obj=project, changes={"inspection": [None, inspection.pk]})
    return project
