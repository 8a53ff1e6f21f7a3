"""Road chiefs' one-road-one-policy documents, rivers' dredging log and drone patrols, street improvement
projects. Patrols themselves are inspections (the engine); this app keeps what is particular to each."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from jiedao.kernel.scoping import ScopedQuerySet


def _view_q(scope):
    if not scope.has("inspections.view"):
        return None
    return Q(subdistrict_id__in=scope.subdistrict_ids)


class Scoped(models.Model):
    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.PROTECT, related_name="+")
    objects = ScopedQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def scope_q(cls, scope):
        return _view_q(scope)


class RoadPolicy(Scoped):
    """一路一策: the road's problems, measures and targets. Each edit is a new version; old ones stay."""

    road = models.ForeignKey("places.Road", on_delete=models.CASCADE, related_name="policies")
    version = models.PositiveIntegerField(default=1)
    problems = models.TextField(_("存在问题"))
    measures = models.TextField(_("整治措施"))
    targets = models.TextField(_("工作目标"))
    effective_from = models.DateField(_("生效日期"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("一路一策")
        verbose_name_plural = _("一路一策")
        constraints = [models.UniqueConstraint(fields=["road", "version"], name="road_policy_version_unique")]
        ordering = ["road", "-version"]


class DredgingRecord(Scoped):
    """河道疏浚记录."""

    river = models.ForeignKey("places.River", on_delete=models.CASCADE, related_name="dredgings")
    date = models.DateField(_("日期"))
    length_m = models.FloatField(_("疏浚长度（米）"))
    volume_m3 = models.FloatField(_("疏浚量（立方米）"))
    contractor = models.CharField(_("施工单位"), max_length=128)
    notes = models.TextField(_("备注"), blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date", "-id"]


class DroneFlight(Scoped):
    """无人机巡河: one flight and the photos it brought back."""

    river = models.ForeignKey("places.River", null=True, blank=True, on_delete=models.SET_NULL, related_name="flights")
    flown_on = models.DateField(_("飞行日期"))
    pilot = models.CharField(_("飞手"), max_length=64, blank=True)
    notes = models.TextField(_("备注"), blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-flown_on", "-id"]


def drone_path(instance, filename):
    return f"drone/{instance.subdistrict_id}/{instance.flight_id}/{filename}"


class DronePhoto(Scoped):
    flight = models.ForeignKey(DroneFlight, on_delete=models.CASCADE, related_name="photos")
    image = models.FileField(upload_to=drone_path)
    thumbnail = models.FileField(upload_to=drone_path)
    original_name = models.CharField(max_length=128)
    lat = models.FloatField()
    lng = models.FloatField()
    taken_at = models.DateTimeField(null=True, blank=True)
    marked = models.BooleanField(_("标记问题"), default=False)
    note = models.CharField(_("问题说明"), max_length=255, blank=True)
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")


class ProjectStatus(models.TextChoices):
    PLANNED = "planned", _("计划中")
    IN_PROGRESS = "in_progress", _("实施中")
    ACCEPTED = "accepted", _("已验收")


class ImprovementProject(Scoped):
    """美丽街区 improvement project: budget, milestones, progress photos, acceptance inspection."""

    name = models.CharField(_("项目名称"), max_length=128)
    road = models.ForeignKey("places.Road", null=True, blank=True, on_delete=models.SET_NULL, related_name="projects")
    description = models.TextField(_("建设内容"), blank=True)
    budget = models.DecimalField(_("预算（万元）"), max_digits=10, decimal_places=2)
    spent = models.DecimalField(_("已支出（万元）"), max_digits=10, decimal_places=2, default=0)
    start_date = models.DateField(_("开工日期"))
    end_date = models.DateField(_("计划完工"))
    status = models.CharField(_("状态"), max_length=16, choices=ProjectStatus.choices, default=ProjectStatus.PLANNED)
    acceptance = models.ForeignKey("inspections.Inspection", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("验收检查"))

    class Meta:
        ordering = ["-start_date"]

    def __str__(self) -> str:
        return self.name


class Milestone(models.Model):
    project = models.ForeignKey(ImprovementProject, on_delete=models.CASCADE, related_name="milestones")
    name = models.CharField(_("节点"), max_length=128)
    due = models.DateField(_("计划日期"))
    done_on = models.DateField(_("完成日期"), null=True, blank=True)
    progress = models.PositiveSmallIntegerField(_("进度%"), default=0)

    class Meta:
        ordering = ["due", "id"]


def project_path(instance, filename):
    return f"projects/{instance.project.subdistrict_id}/{instance.project_id}/{filename}"


class ProjectPhoto(models.Model):
    project = models.ForeignKey(ImprovementProject, on_delete=models.CASCADE, related_name="photos")
    milestone = models.ForeignKey(Milestone, null=True, blank=True, on_delete=models.SET_NULL, related_name="photos")
    image = models.FileField(upload_to=project_path)
    thumbnail = models.FileField(upload_to=project_path)
    caption = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
