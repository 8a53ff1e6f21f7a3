"""The inspection engine: checklist templates (versioned), plans, inspections, findings → cases.

Every use — road and river patrols, garbage sorting, key-place epidemic checks, safety checks, weak spots,
project acceptance — is a template and data, not new code.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from jiedao.kernel.scoping import ScopedQuerySet

from .choices import Frequency, ItemKind, TargetType, TemplateKind, TemplateStatus


def _wide_or(scope, extra: Q) -> Q | None:
    if not scope.has("inspections.view"):
        return None
    return Q(subdistrict_id__in=scope.wide_subdistrict_ids) | extra


class ChecklistTemplate(models.Model):
    """检查表. A template in use is never changed in place: revising it makes a new version."""

    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.PROTECT, related_name="+")
    code = models.CharField(_("编码"), max_length=32)  # the family; versions share it
    version = models.PositiveIntegerField(_("版本"), default=1)
    name = models.CharField(_("名称"), max_length=128)
    kind = models.CharField(_("用途"), max_length=32, choices=TemplateKind.choices)
    target_type = models.CharField(_("检查对象"), max_length=16, choices=TargetType.choices)
    status = models.CharField(_("状态"), max_length=16, choices=TemplateStatus.choices, default=TemplateStatus.DRAFT)
    pass_score = models.FloatField(_("合格分"), null=True, blank=True)  # for scored templates
    description = models.TextField(_("说明"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("检查表")
        verbose_name_plural = _("检查表")
        constraints = [models.UniqueConstraint(fields=["subdistrict", "code", "version"], name="template_version_unique")]
        ordering = ["code", "-version"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @classmethod
    def scope_q(cls, scope):
        if not (scope.has("inspections.view") or scope.has("inspections.manage")):
            return None
        return Q(subdistrict_id__in=scope.subdistrict_ids)


class ChecklistItem(models.Model):
    template = models.ForeignKey(ChecklistTemplate, on_delete=models.CASCADE, related_name="items")
    code = models.CharField(_("编码"), max_length=32)
    text = models.CharField(_("检查内容"), max_length=255)
    kind = models.CharField(_("类型"), max_length=16, choices=ItemKind.choices)
    order = models.PositiveSmallIntegerField(default=0)
    required = models.BooleanField(_("必填"), default=True)
    unit = models.CharField(_("单位"), max_length=16, blank=True)
    min_value = models.FloatField(_("下限"), null=True, blank=True)
    max_value = models.FloatField(_("上限"), null=True, blank=True)
    choices = models.JSONField(_("选项"), default=list, blank=True)  # [{"value","label","passes"}]
    max_score = models.FloatField(_("满分"), null=True, blank=True)
    fail_below = models.FloatField(_("低于此分为不合格"), null=True, blank=True)
    case_category = models.ForeignKey("cases.CaseCategory", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+", verbose_name=_("不合格时立案类别"))

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["template", "code"], name="item_code_unique")]

    def __str__(self) -> str:
        return self.text


class Target(models.Model):
    """Anything that is inspected: a place of the registry, denormalised for lists and maps."""

    target_type = models.CharField(max_length=16, choices=TargetType.choices)
    target_id = models.PositiveBigIntegerField()
    target_name = models.CharField(max_length=128)
    lat = models.FloatField(null=True, blank=True)
    lng = models.FloatField(null=True, blank=True)
    grid = models.ForeignKey("places.Grid", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        abstract = True


class InspectionPlan(models.Model):
    """Who inspects what, with which template family, how often, from when to when."""

    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("名称"), max_length=128)
    template_code = models.CharField(_("检查表编码"), max_length=32)  # the current active version is used
    inspector = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="inspection_plans",
                                  verbose_name=_("检查人"))
    frequency = models.CharField(_("频次"), max_length=16, choices=Frequency.choices)
    dates = models.JSONField(_("指定日期"), default=list, blank=True)  # ["2020-10-09", …] when frequency=dates
    workdays_only = models.BooleanField(_("仅工作日"), default=False)
    start_date = models.DateField(_("开始日期"))
    end_date = models.DateField(_("结束日期"), null=True, blank=True)
    active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("巡查计划")
        verbose_name_plural = _("巡查计划")
        indexes = [models.Index(fields=["subdistrict", "inspector", "active"])]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope):
        return _wide_or(scope, Q(inspector_id=scope.user_id))


class PlanTarget(Target):
    plan = models.ForeignKey(InspectionPlan, on_delete=models.CASCADE, related_name="targets")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "target_type", "target_id"], name="plan_target_unique")]


class Inspection(Target):
    """One visit: inspector, target, template version, times, answers, photos, GPS track, notes."""

    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey(ChecklistTemplate, on_delete=models.PROTECT, related_name="inspections")
    plan = models.ForeignKey(InspectionPlan, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="inspections")
    period_key = models.CharField(max_length=16, blank=True)  # the plan occurrence it fulfils
    inspector = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="inspections")
    started_at = models.DateTimeField(_("开始时间"))
    finished_at = models.DateTimeField(_("结束时间"))
    track = models.JSONField(_("轨迹"), default=list, blank=True)  # [[lat, lng, iso time], …]
    notes = models.TextField(_("备注"), blank=True)
    score = models.FloatField(_("得分"), null=True, blank=True)
    passed = models.BooleanField(_("合格"), default=True)
    failed_items = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("检查记录")
        verbose_name_plural = _("检查记录")
        indexes = [
            models.Index(fields=["subdistrict", "finished_at"]),
            models.Index(fields=["subdistrict", "target_type", "target_id", "finished_at"]),
            models.Index(fields=["plan", "period_key"]),
        ]

    def __str__(self) -> str:
        return f"{self.target_name} {self.finished_at:%Y-%m-%d}"

    @classmethod
    def scope_q(cls, scope):
        extra = Q(inspector_id=scope.user_id)
        if scope.grid_ids:
            extra |= Q(grid_id__in=scope.grid_ids)
        if scope.org_unit_ids:
            extra |= Q(grid__org_unit_id__in=scope.org_unit_ids)
        return _wide_or(scope, extra)


class InspectionAnswer(models.Model):
    inspection = models.ForeignKey(Inspection, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(ChecklistItem, on_delete=models.PROTECT, related_name="+")
    passed = models.BooleanField(null=True)
    score = models.FloatField(null=True, blank=True)
    number = models.FloatField(null=True, blank=True)
    choice = models.CharField(max_length=64, blank=True)
    text = models.TextField(blank=True)
    failed = models.BooleanField(default=False)
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["inspection", "item"], name="answer_unique")]


def photo_path(instance, filename):
    return f"inspections/{instance.inspection.subdistrict_id}/{instance.inspection_id}/{filename}"


class InspectionPhoto(models.Model):
    inspection = models.ForeignKey(Inspection, on_delete=models.CASCADE, related_name="photos")
    item = models.ForeignKey(ChecklistItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    image = models.FileField(upload_to=photo_path)
    thumbnail = models.FileField(upload_to=photo_path)
    lat = models.FloatField(null=True, blank=True)
    lng = models.FloatField(null=True, blank=True)
    taken_at = models.DateTimeField(null=True, blank=True)
