import secrets

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..scoping import ScopedQuerySet


def new_token() -> str:
    """A cache-key token (see ``User.scope_token``, ``Subdistrict.calendar_token``)."""
    return secrets.token_hex(8)


class Subdistrict(models.Model):
    """The tenant (街道 / 镇): every domain row belongs to exactly one."""

    code = models.CharField(_("代码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=64)
    district = models.CharField(_("所属区"), max_length=64, blank=True)
    centre_lat = models.FloatField(_("中心纬度"), default=0)
    centre_lng = models.FloatField(_("中心经度"), default=0)
    # Bumped whenever a grid changes, so every process rebuilds its point → grid index.
    places_version = models.PositiveIntegerField(default=0)
    # A new random value whenever a holiday/make-up day row that applies here changes: the cache key of the
    # calendar's override rows (kernel.calendar), so a deadline costs no query.
    calendar_token = models.CharField(max_length=16, default=new_token, editable=False)
    # Likewise for the case categories (reference data every intake reads; cases.selectors).
    categories_token = models.CharField(max_length=16, default=new_token, editable=False)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("街道")
        verbose_name_plural = _("街道")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope):
        return Q(id__in=scope.subdistrict_ids)


class OrgUnitKind(models.TextChoices):
    OFFICE = "office", _("街道办事处")
    GRID_CENTRE = "grid_centre", _("网格化综合管理中心")
    DEPARTMENT = "department", _("职能部门")
    RESIDENTS_COMMITTEE = "residents_committee", _("居民委员会")
    OWNERS_COMMITTEE = "owners_committee", _("业主委员会")
    PROPERTY_COMPANY = "property_company", _("物业服务企业")
    WORKING_GROUP = "working_group", _("工作小组")
    OTHER = "other", _("其他")


class OrgUnit(models.Model):
    """A unit of the organisation tree; ``path`` makes subtree queries one index scan."""

    subdistrict = models.ForeignKey(Subdistrict, on_delete=models.PROTECT, related_name="org_units")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    kind = models.CharField(_("类型"), max_length=32, choices=OrgUnitKind.choices)
    code = models.CharField(_("代码"), max_length=64)
    name = models.CharField(_("名称"), max_length=128)
    preparatory = models.BooleanField(_("筹建制"), default=False)
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")
    active = models.BooleanField(_("启用"), default=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("组织")
        verbose_name_plural = _("组织")
        constraints = [models.UniqueConstraint(fields=["subdistrict", "code"], name="orgunit_code_unique")]
        indexes = [models.Index(fields=["subdistrict", "kind"])]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope):
        return Q(subdistrict_id__in=scope.subdistrict_ids)
