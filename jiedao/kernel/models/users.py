import hashlib

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..roles import ROLE_CHOICES
from ..scoping import ScopedQuerySet
from .org import OrgUnit, new_token


class User(AbstractUser):
    """Staff account. Scope and capabilities come from memberships, never from flags."""

    display_name = models.CharField(_("姓名"), max_length=64, blank=True)
    # A new random value whenever what the user may see changes (memberships, grids, the org tree): the cache key
    # of their computed scope (kernel.scoping). Random, not a counter, so a rolled-back change never reuses a key.
    scope_token = models.CharField(max_length=16, default=new_token, editable=False)

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")

    def __str__(self) -> str:
        return self.display_name or self.username

    @classmethod
    def scope_q(cls, scope):
        if not scope.has("users.manage"):
            return Q(pk=scope.user_id)
        # Accounts of the manager's sub-districts, plus accounts with no membership yet (just created).
        members = Membership.objects.filter(org_unit__subdistrict_id__in=scope.subdistrict_ids).values("user_id")
        return Q(pk__in=members) | ~Q(pk__in=Membership.objects.values("user_id")) | Q(pk=scope.user_id)


class Membership(models.Model):
    """A user holds a role in an org unit; the role's reach starts from that unit."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(_("角色"), max_length=32, choices=ROLE_CHOICES)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("任职")
        verbose_name_plural = _("任职")
        constraints = [models.UniqueConstraint(fields=["user", "org_unit", "role"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.org_unit}"

    @classmethod
    def scope_q(cls, scope):
        if not scope.has("users.manage"):
            return Q(user_id=scope.user_id)
        return Q(org_unit__subdistrict_id__in=scope.subdistrict_ids)


class ApiToken(models.Model):
    """Bearer token for the API; only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    @staticmethod
    def digest_of(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()
