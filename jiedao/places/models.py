"""Places (KER-4): grids, compounds, buildings, premises, roads, rivers.

Coordinates are WGS-84 latitude/longitude columns; shapes are GeoJSON
geometries in a JSON column (no GDAL). Places are the shared map of a
sub-district: anyone holding ``places.view`` in a sub-district sees all of
its places, and nothing of another sub-district's.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from jiedao.kernel.scoping import ScopedQuerySet


def _places_q(scope):
    if not (scope.has("places.view") or scope.has("places.manage")):
        return None
    return Q(subdistrict_id__in=scope.subdistrict_ids)


class PlaceBase(models.Model):
    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("名称"), max_length=128)
    lat = models.FloatField(_("纬度"), null=True, blank=True)
    lng = models.FloatField(_("经度"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope):
        return _places_q(scope)


class Grid(PlaceBase):
    """单元网格: the smallest management area."""

    code = models.CharField(_("网格编码"), max_length=32)
    geometry = models.JSONField(_("边界"), help_text="GeoJSON Polygon, WGS-84")
    org_unit = models.ForeignKey("kernel.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="grids", verbose_name=_("所属居委会"))
    area_m2 = models.FloatField(_("面积（平方米）"), default=0)

    class Meta:
        verbose_name = _("网格")
        verbose_name_plural = _("网格")
        constraints = [models.UniqueConstraint(fields=["subdistrict", "code"], name="grid_code_unique")]
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class GridAssignment(models.Model):
    """A grid worker patrols these grids."""

    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="grid_assignments")
    grid = models.ForeignKey(Grid, on_delete=models.CASCADE, related_name="assignments")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "grid"], name="grid_assignment_unique")]

    @classmethod
    def scope_q(cls, scope):
        if scope.has("users.manage"):
            return Q(subdistrict_id__in=scope.subdistrict_ids)
        return Q(user_id=scope.user_id)


class Compound(PlaceBase):
    """小区."""

    address = models.CharField(_("地址"), max_length=200, blank=True)
    grid = models.ForeignKey(Grid, null=True, blank=True, on_delete=models.SET_NULL, related_name="compounds")
    residents_committee = models.ForeignKey("kernel.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL,
                                            related_name="compounds", verbose_name=_("居委会"))
    property_company = models.ForeignKey("kernel.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="managed_compounds", verbose_name=_("物业"))
    owners_committee = models.ForeignKey("kernel.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="owned_compounds", verbose_name=_("业委会"))
    geometry = models.JSONField(_("边界"), null=True, blank=True)
    households = models.PositiveIntegerField(_("户数"), default=0)

    class Meta:
        verbose_name = _("小区")
        verbose_name_plural = _("小区")
        ordering = ["name"]
        indexes = [models.Index(fields=["subdistrict", "residents_committee"])]


class BuildingKind(models.TextChoices):
    RESIDENTIAL = "residential", _("住宅楼")
    OFFICE = "office", _("商务楼宇")
    PLAZA = "plaza", _("商业广场")
    HOTEL = "hotel", _("住宿企业")
    PUBLIC = "public", _("公共建筑")
    OTHER = "other", _("其他")


class Building(PlaceBase):
    """楼栋."""

    kind = models.CharField(_("类型"), max_length=16, choices=BuildingKind.choices)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    compound = models.ForeignKey(Compound, null=True, blank=True, on_delete=models.SET_NULL, related_name="buildings")
    grid = models.ForeignKey(Grid, null=True, blank=True, on_delete=models.SET_NULL, related_name="buildings")
    floors = models.PositiveSmallIntegerField(_("层数"), default=0)

    class Meta:
        verbose_name = _("楼栋")
        verbose_name_plural = _("楼栋")
        ordering = ["name"]
        indexes = [models.Index(fields=["subdistrict", "kind"])]


class PremisesKind(models.TextChoices):
    SHOP = "shop", _("沿街商铺")
    SOLE_TRADER = "sole_trader", _("个体工商户")
    RESTAURANT = "restaurant", _("餐饮")
    MARKET = "market", _("市场")
    VENUE = "venue", _("公共场所")
    OTHER = "other", _("其他")


class Premises(PlaceBase):
    """沿街商铺 / 场所."""

    kind = models.CharField(_("类型"), max_length=16, choices=PremisesKind.choices)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    building = models.ForeignKey(Building, null=True, blank=True, on_delete=models.SET_NULL, related_name="premises")
    road = models.ForeignKey("Road", null=True, blank=True, on_delete=models.SET_NULL, related_name="premises")
    grid = models.ForeignKey(Grid, null=True, blank=True, on_delete=models.SET_NULL, related_name="premises")

    class Meta:
        verbose_name = _("场所")
        verbose_name_plural = _("场所")
        ordering = ["name"]
        indexes = [models.Index(fields=["subdistrict", "kind"])]


class RoadClass(models.TextChoices):
    ARTERIAL = "arterial", _("主干道")
    SECONDARY = "secondary", _("次干道")
    ALLEY = "alley", _("背街小巷")


class Road(PlaceBase):
    road_class = models.CharField(_("道路等级"), max_length=16, choices=RoadClass.choices)
    geometry = models.JSONField(_("走向"), help_text="GeoJSON LineString, WGS-84")
    chief = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="roads", verbose_name=_("路长"))
    length_m = models.FloatField(_("长度（米）"), default=0)

    class Meta:
        verbose_name = _("道路")
        verbose_name_plural = _("道路")
        ordering = ["name"]


class River(PlaceBase):
    geometry = models.JSONField(_("走向"), help_text="GeoJSON LineString, WGS-84")
    chief = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="rivers", verbose_name=_("河长"))
    length_m = models.FloatField(_("长度（米）"), default=0)

    class Meta:
        verbose_name = _("河道")
        verbose_name_plural = _("河道")
        ordering = ["name"]
