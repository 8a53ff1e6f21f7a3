"""Django admin for reference data, open to the system and security administrators only.

Admin edits do not go through services, so every save and delete here writes
its own audit record (with the changed fields) in the same transaction.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction

from .audit import audit_record
from .models import CalendarDay, Membership, OrgUnit, Subdistrict, User
from .scoping import scope_changed, user_scope


def _admin_site_has_permission(request) -> bool:
    user = request.user
    return bool(user.is_active and user.is_authenticated and
                ({"system_admin", "security_admin"} & user_scope(user).roles))


admin.site.has_permission = _admin_site_has_permission
admin.site.site_header = "街道 · 管理后台"
admin.site.site_title = "街道管理后台"


class AuditedAdmin(admin.ModelAdmin):
    """Capability-gated, scoped, audited."""

    capability = "config.manage"

    def get_queryset(self, request):
        return self.model.objects.visible_to(request.user)

    def _can(self, request) -> bool:
        return user_scope(request.user).has(self.capability)

    def has_module_permission(self, request):
        return self._can(request)

    def has_view_permission(self, request, obj=None):
        return self._can(request)

    def has_add_permission(self, request):
        return self._can(request)

    def has_change_permission(self, request, obj=None):
        return self._can(request)

    def has_delete_permission(self, request, obj=None):
        return self._can(request)

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        changes = {name: [None, str(form.cleaned_data.get(name))[:200]] for name in form.changed_data
                   if "password" not in name}
        audit_record(actor=request.user, action=f"admin.{'change' if change else 'add'}", obj=obj, changes=changes)

    @transaction.atomic
    def delete_model(self, request, obj):
        audit_record(actor=request.user, action="admin.delete", obj=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(Subdistrict)
class SubdistrictAdmin(AuditedAdmin):
    capability = "org.manage"
    list_display = ("code", "name", "district")


@admin.register(OrgUnit)
class OrgUnitAdmin(AuditedAdmin):
    capability = "org.manage"
    list_display = ("name", "kind", "code", "parent", "preparatory", "active")
    list_filter = ("kind", "preparatory", "active")
    search_fields = ("name", "code")

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        prefix = obj.parent.path if obj.parent_id else "/"
        OrgUnit.objects.filter(pk=obj.pk).update(path=f"{prefix}{obj.pk}/")
        scope_changed(subdistrict_id=obj.subdistrict_id)  # the path decides subtrees: after it is set


@admin.register(User)
class UserAdmin(AuditedAdmin, DjangoUserAdmin):
    """Accounts for the security administrator. No staff/superuser flags here: roles come from memberships."""

    capability = "users.manage"
    list_display = ("username", "display_name", "is_active", "last_login")
    list_filter = ("is_active",)
    search_fields = ("username", "display_name")
    fieldsets = ((None, {"fields": ("username", "password")}), ("个人信息", {"fields": ("display_name", "email")}),
                 ("状态", {"fields": ("is_active",)}))
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "display_name", "password1", "password2")}),)
    filter_horizontal = ()

    def log_change(self, request, obj, message):
        # The password form of Django's UserAdmin saves outside save_model: audit it here.
        if "password" in str(message).lower():
            audit_record(actor=request.user, action="user.password_set", obj=obj)
        return super().log_change(request, obj, message)


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    capability = "users.manage"
    list_display = ("user", "role", "org_unit", "active")
    list_filter = ("role", "active")

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        # The separation of the three administrator roles is a service rule: go through it.
        from .services import membership_grant

        if not change:
            membership_grant(actor=request.user, user=obj.user, org_unit=obj.org_unit, role=obj.role)
            saved = Membership.objects.get(user=obj.user, org_unit=obj.org_unit, role=obj.role)
            obj.pk = saved.pk
        else:
            super().save_model(request, obj, form, change)


@admin.register(CalendarDay)
class CalendarDayAdmin(AuditedAdmin):
    capability = "calendar.manage"
    list_display = ("date", "kind", "name", "subdistrict")
    list_filter = ("kind",)

    # Working time changes with these rows: whoever keeps figures computed from it is told (calendar_days_changed).
    @transaction.atomic
    def save_model(self, request, obj, form, change):
        from .services import calendar_days_changed

        before = CalendarDay.objects.filter(pk=obj.pk).values_list("subdistrict_id", "date").first() if change else None
        super().save_model(request, obj, form, change)
        if before:
            calendar_days_changed(subdistrict_id=before[0], dates=[before[1]])
        calendar_days_changed(subdistrict_id=obj.subdistrict_id, dates=[obj.date])

    @transaction.atomic
    def delete_model(self, request, obj):
        from .services import calendar_days_changed

        super().delete_model(request, obj)
        calendar_days_changed(subdistrict_id=obj.subdistrict_id, dates=[obj.date])
