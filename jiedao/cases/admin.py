import secrets

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from jiedao.kernel.admin import AuditedAdmin
from jiedao.kernel.models import OrgUnitKind

from .models import AlarmSource, CaseCategory, Open311Key

# Rows a sub-district adds for itself in the admin (the national ones say "GB/T 47678.5-2026", a chapter's its code).
ADMIN_SOURCE = "admin"


class CaseCategoryForm(forms.ModelForm):
    """The tree is two levels under each kind: a major (大类, no parent) holds leaves (小类), and cases are filed
    under leaves only. A leaf's code starts with its major's, as in the national table and the chapters' subtrees."""

    def clean(self):
        data = super().clean()
        if self.instance.pk is not None:  # kind, code and parent are read-only once the row exists
            return data
        parent, kind, code = data.get("parent"), data.get("kind"), data.get("code") or ""
        if parent is not None:
            if kind and parent.kind != kind:
                self.add_error("parent", _("所属大类与本类别的类型不同。"))
            if code and not code.startswith(parent.code):
                self.add_error("code", _("小类编码须以所属大类的编码“%(code)s”开头。") % {"code": parent.code})
        return data


@admin.register(CaseCategory)
class CaseCategoryAdmin(AuditedAdmin):
    """Categories are sub-district configuration: default department and deadlines per urgency.

    A new category belongs to the user's sub-district; without a parent it is a major, with one a leaf. Kind, code,
    legacy code and parent are fixed once the row exists: 12345 orders, alarm sources and cases refer to them.
    Saving renews the sub-district's ``categories_token`` (the model's save signal), so every process reads the
    change before its next intake (decision 0009).
    """

    capability = "config.manage"
    form = CaseCategoryForm
    list_display = ("code", "name", "kind", "legacy_code", "default_department", "urgent_hours", "normal_days",
                    "active")
    list_filter = ("kind", "active", "is_leaf")
    search_fields = ("code", "name", "legacy_code")
    fields = ("kind", "code", "legacy_code", "name", "parent", "default_department", "urgent_hours", "normal_days",
              "active")
    fixed_fields = ("kind", "code", "legacy_code", "parent")

    def get_readonly_fields(self, request, obj=None):
        return self.fixed_fields if obj is not None else ()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # AuditedAdmin narrows both to the sub-district of the row.
        if db_field.name == "default_department":
            kwargs["queryset"] = db_field.related_model.objects.filter(kind=OrgUnitKind.DEPARTMENT).order_by("path")
        elif db_field.name == "parent":
            kwargs["queryset"] = CaseCategory.objects.filter(parent__isnull=True, is_leaf=False).order_by("kind", "code")
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "parent" and field is not None:
            # 部件 and 事件 majors share codes (01 市政公用设施 / 01 市政公用设施类): the kind tells them apart.
            field.label_from_instance = lambda c: f"{c.get_kind_display()} · {c.code} {c.name}"
        return field

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        if not change:
            obj.is_leaf = obj.parent_id is not None
            obj.source = ADMIN_SOURCE
        super().save_model(request, obj, form, change)


@admin.register(AlarmSource)
class AlarmSourceAdmin(AuditedAdmin):
    """A device platform's signing secret is made here and shown once, like an Open311 key: it is never displayed
    again (the page would show it to anyone looking over a shoulder) nor written to the audit log. The action
    “重新生成签名密钥” replaces it when the platform's copy is lost or leaked."""

    capability = "config.manage"
    list_display = ("code", "name", "active")
    fields = ("code", "name", "category_map", "active")  # the sub-district is the user's own; the secret below
    actions = ["secret_regenerate"]

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        if not change:
            obj.secret = _new_secret(request, obj)
        super().save_model(request, obj, form, change)

    @admin.action(description=_("重新生成签名密钥（仅显示一次）"))
    def secret_regenerate(self, request, queryset):
        from jiedao.kernel.audit import audit_record

        for source in queryset:
            with transaction.atomic():
                source.secret = _new_secret(request, source)
                source.save(update_fields=["secret"])
                audit_record(actor=request.user, action="admin.change", obj=source, changes={"secret": ["***", "***"]})


def _new_secret(request, source) -> str:
    raw = secrets.token_urlsafe(32)
    messages.warning(request, _("签名密钥（设备源 %(code)s，仅显示一次，请转交设备平台）：%(secret)s")
                     % {"code": source.code, "secret": raw})
    return raw


@admin.register(Open311Key)
class Open311KeyAdmin(AuditedAdmin):
    """A new client gets a random key, shown once; only its hash is kept."""

    capability = "config.manage"
    list_display = ("name", "rate", "active", "created_at")
    fields = ("name", "rate", "active")  # the sub-district is the user's own

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        if not change:
            raw = secrets.token_urlsafe(24)
            obj.digest = Open311Key.digest_of(raw)
            messages.warning(request, f"api_key（仅显示一次，请转交客户端）：{raw}")
        super().save_model(request, obj, form, change)
