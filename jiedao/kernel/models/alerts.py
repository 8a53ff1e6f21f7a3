from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..scoping import ScopedQuerySet


class AlertSeverity(models.TextChoices):
    INFO = "info", _("提示")
    WARNING = "warning", _("警告")
    CRITICAL = "critical", _("严重")


class AlertState(models.TextChoices):
    OPEN = "open", _("未处理")
    ACKNOWLEDGED = "acknowledged", _("已确认")
    RESOLVED = "resolved", _("已解除")


class Alert(models.Model):
    """预警: a rule raised it on a subject; people acknowledge and resolve it.

    ``dedup_key`` (rule + subject) is unique among unresolved alerts, so a rule
    that fires every few minutes raises one alert, not hundreds.
    """

    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.CASCADE, null=True, blank=True)
    rule = models.CharField(_("规则"), max_length=64)
    subject_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64)
    subject_repr = models.CharField(max_length=200, blank=True)
    severity = models.CharField(_("级别"), max_length=16, choices=AlertSeverity.choices, default=AlertSeverity.WARNING)
    state = models.CharField(_("状态"), max_length=16, choices=AlertState.choices, default=AlertState.OPEN)
    message = models.TextField(_("内容"))
    dedup_key = models.CharField(max_length=200)
    raised_at = models.DateTimeField(auto_now_add=True)
    acknowledged_by = models.ForeignKey("kernel.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey("kernel.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Which capability may see it: an audit-key alert is not for the grid centre.
    audience = models.CharField(max_length=64, default="alerts.view")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("预警")
        verbose_name_plural = _("预警")
        indexes = [models.Index(fields=["subdistrict", "state", "raised_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"], condition=~Q(state="resolved"), name="alert_one_unresolved_per_key"
            )
        ]

    @classmethod
    def scope_q(cls, scope):
        allowed = [cap for cap in scope.caps if cap in {"alerts.view", "config.manage", "audit.view"}]
        if not allowed:
            return None
        return (Q(subdistrict_id__in=scope.subdistrict_ids) | Q(subdistrict__isnull=True)) & Q(audience__in=allowed)


class Notification(models.Model):
    """An in-app inbox message; other channels (SMS, WeChat) are backends."""

    recipient = models.ForeignKey("kernel.User", on_delete=models.CASCADE, related_name="notifications")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    @classmethod
    def scope_q(cls, scope):
        return Q(recipient_id=scope.user_id)
