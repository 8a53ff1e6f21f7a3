from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..scoping import ScopedQuerySet


class CalendarDayKind(models.TextChoices):
    HOLIDAY = "holiday", _("法定节假日（休息）")
    WORKDAY = "workday", _("调休上班日")


class CalendarDay(models.Model):
    """An admin-entered holiday or make-up workday; overrides the chinese-calendar data.

    The State Council publishes next year's schedule each autumn; entering it
    here keeps deadlines right before the library has a release for it.
    A row without a sub-district applies to every sub-district of the deployment.
    """

    subdistrict = models.ForeignKey("kernel.Subdistrict", null=True, blank=True, on_delete=models.CASCADE)
    date = models.DateField(_("日期"))
    kind = models.CharField(_("类型"), max_length=16, choices=CalendarDayKind.choices)
    name = models.CharField(_("名称"), max_length=64, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("节假日与调休")
        verbose_name_plural = _("节假日与调休")
        constraints = [models.UniqueConstraint(fields=["subdistrict", "date"], name="calendarday_unique")]
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()} {self.name}"

    @classmethod
    def scope_q(cls, scope):
        return Q(subdistrict_id__in=scope.subdistrict_ids) | Q(subdistrict__isnull=True)
