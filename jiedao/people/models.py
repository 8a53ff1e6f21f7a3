"""The people registry (KER-5). ID number, phone and exact address are encrypted at rest.

Birth date is not stored: it is derivable from the ID number, and a full birth
date shown next to a masked ID number rebuilds most of it. Sex and birth year
are enough for the work (age groups for elderly services, etc.).
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from jiedao.kernel.pii.fields import EncryptedTextField
from jiedao.kernel.scoping import ScopedQuerySet


class ResidenceType(models.TextChoices):
    REGISTERED = "registered", _("户籍人口")
    RESIDENT = "resident", _("常住人口")
    MIGRANT = "migrant", _("来沪人员")
    FOREIGN = "foreign", _("境外人员")


class Sex(models.TextChoices):
    MALE = "M", _("男")
    FEMALE = "F", _("女")


class Person(models.Model):
    # No single-column index: the unique (subdistrict, id_number_bidx) index below starts with it.
    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.PROTECT, related_name="+", db_index=False)
    name = models.CharField(_("姓名"), max_length=64)
    id_number = EncryptedTextField(_("身份证号"), blank=True, default="")
    # Searched together with subdistrict_id through the unique index below; no index of its own (faster imports).
    # Blind indexes: 32 hex characters, kernel.pii.crypto.BLIND_INDEX_CHARS.
    id_number_bidx = models.CharField(max_length=32, blank=True, default="", editable=False)
    phone = EncryptedTextField(_("联系电话"), blank=True, default="")
    # Indexed by Meta.indexes, not db_index: on PostgreSQL db_index adds a second, varchar_pattern_ops
    # index for LIKE, which a blind index never serves and every import would write.
    phone_bidx = models.CharField(max_length=32, blank=True, default="", editable=False)
    address = EncryptedTextField(_("详细地址"), blank=True, default="")
    compound = models.ForeignKey("places.Compound", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="people", verbose_name=_("小区"))
    grid = models.ForeignKey("places.Grid", null=True, blank=True, on_delete=models.SET_NULL, related_name="people")
    sex = models.CharField(_("性别"), max_length=1, choices=Sex.choices, blank=True)
    birth_year = models.PositiveSmallIntegerField(_("出生年份"), null=True, blank=True)
    residence_type = models.CharField(_("人口类型"), max_length=16, choices=ResidenceType.choices,
                                      default=ResidenceType.RESIDENT)
    registered_on = models.DateField(_("登记日期"), null=True, blank=True)
    notes = models.TextField(_("备注"), blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("人员")
        verbose_name_plural = _("人员")
        # Few indexes on purpose: imports write 100,000 rows at a time. compound_id and grid_id (FK indexes)
        # serve scoping; names are searched with icontains, which no b-tree helps.
        indexes = [models.Index(fields=["phone_bidx"], name="person_phone_bidx")]
        constraints = [
            models.UniqueConstraint(fields=["subdistrict", "id_number_bidx"], condition=~Q(id_number_bidx=""),
                                    name="person_id_number_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope):
        if not scope.has("people.view"):
            return None
        q = Q(subdistrict_id__in=scope.wide_subdistrict_ids)
        if scope.org_unit_ids:
            q |= Q(compound__residents_committee_id__in=scope.org_unit_ids)
        if scope.grid_ids:
            q |= Q(grid_id__in=scope.grid_ids)
        if scope.compound_ids:
            q |= Q(compound_id__in=scope.compound_ids)
        return q
