from django.db import models


class IdempotencyKey(models.Model):
    """The first result of a create call, replayed when a client retries with the same key."""

    user = models.ForeignKey("kernel.User", on_delete=models.CASCADE, null=True, blank=True)
    key = models.CharField(max_length=128)
    endpoint = models.CharField(max_length=128)
    status = models.PositiveSmallIntegerField(default=0)  # 0 while the first call is still running
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "endpoint", "key"], name="idempotency_unique")]
