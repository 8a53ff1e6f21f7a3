import secrets

from django.contrib import admin, messages
from django.db import transaction

from jiedao.kernel.admin import AuditedAdmin

from .models import AlarmSource, CaseCategory, Open311Key


@admin.register(CaseCategory)
class CaseCategoryAdmin(AuditedAdmin):
    """Categories are sub-district configuration: default department and deadlines per urgency."""

    capability = "config.manage"
    list_display = ("code", "name", "kind", "legacy_code", "default_department", "urgent_hours", "normal_days",
                    "active")
    list_filter = ("kind", "active", "is_leaf")
    search_fields = ("code", "name", "legacy_code")
    fields = ("kind", "code", "legacy_code", "name", "parent", "default_department", "urgent_hours", "normal_days",
              "active")
    readonly_fields = ("kind", "code", "legacy_code", "parent")


@admin.register(AlarmSource)
class AlarmSourceAdmin(AuditedAdmin):
    capability = "config.manage"
    list_display = ("code", "name", "active")
    fields = ("subdistrict", "code", "name", "secret", "category_map", "active")


@admin.register(Open311Key)
class Open311KeyAdmin(AuditedAdmin):
    """A new client gets a random key, shown once; only its hash is kept."""

    capability = "config.manage"
    list_display = ("name", "rate", "active", "created_at")
    fields = ("subdistrict", "name", "rate", "active")

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        if not change:
            raw = secrets.token_urlsafe(24)
            obj.digest = Open311Key.digest_of(raw)
            messages.warning(request, f"api_key（仅显示一次，请转交客户端）：{raw}")
        super().save_model(request, obj, form, change)
