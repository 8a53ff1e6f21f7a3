from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..scoping import ScopedQuerySet


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", _("成功")
    FAILURE = "failure", _("失败")
    DENIED = "denied", _("拒绝")


class AuditRecord(models.Model):
    """One append-only, HMAC-chained record (DESIGN §4.5).

    ``mac`` = HMAC(key, canonical content ‖ ``prev_mac``); the log is a few
    chains (``lane``, decision 0017), each with ``seq`` without gaps, so an
    altered record breaks its own MAC and a removed one breaks the link of the
    next in its lane. The key lives outside the database.
    """

    # Concurrent writers append to different lanes (PostgreSQL); SQLite has one writer and one lane, 0.
    lane = models.PositiveSmallIntegerField(default=0, db_default=0)
    # Unique per lane (the constraint below); the log is listed by id, a time range also names the sub-district.
    seq = models.BigIntegerField()
    created_at = models.DateTimeField()
    # No index of its own: (subdistrict, created_at) below starts with it (docs/decisions/0014).
    subdistrict = models.ForeignKey("kernel.Subdistrict", null=True, blank=True, on_delete=models.PROTECT,
                                    db_index=False)
    # DO_NOTHING: the log outlives accounts, and an UPDATE of it would be refused anyway.
    # No index: the log is searched by the username it keeps, and no account is ever deleted through it.
    actor = models.ForeignKey("kernel.User", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
                              db_index=False)
    actor_username = models.CharField(max_length=150, blank=True)
    actor_role = models.CharField(max_length=64, blank=True)
    actor_org_unit = models.CharField(max_length=128, blank=True)
    action = models.CharField(max_length=64)  # searched by prefix: the one index below
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=16, choices=AuditOutcome.choices, default=AuditOutcome.SUCCESS)
    reason = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    prev_mac = models.CharField(max_length=64, blank=True)
    mac = models.CharField(max_length=64)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        constraints = [models.UniqueConstraint(fields=["lane", "seq"], name="kernel_audit_lane_seq")]
        indexes = [
            models.Index(fields=["subdistrict", "created_at"]),
            models.Index(fields=["object_type", "object_id"]),
            # LIKE 'case.%' (the log's action filter) on PostgreSQL; no second, plain copy that nothing uses.
            models.Index(fields=["action"], name="kernel_audit_action_prefix", opclasses=["varchar_pattern_ops"]),
        ]

    @classmethod
    def scope_q(cls, scope):
        if not scope.has("audit.view"):
            return None
        return Q(subdistrict_id__in=scope.subdistrict_ids) | Q(subdistrict__isnull=True)
