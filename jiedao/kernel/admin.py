"""Django admin for reference data, open to the system and security administrators only.

Admin edits do not go through services, so every save and delete here writes
its own audit record (with the changed fields) in the same transaction.

Every admin sees and offers only the user's own sub-district (DESIGN §4.1–4.2): lists and change pages read
through ``visible_to`` and, for models with a ``subdistrict`` field, that sub-district's rows (another's answers
the admin's "does not exist" redirect, like a 404); every dropdown lists only rows of the sub-district the edited
row belongs to; and a new row of such a model goes to the user's sub-district, which is never a form field.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, PermissionDenied
from django.db import transaction
from django.db.models import Q

from .audit import audit_record
from .models import CalendarDay, Membership, OrgUnit, Subdistrict, User
from .models.org import new_token
from .scoping import scope_changed, user_scope
from .selectors import subdistrict_id_of


def _admin_site_has_permission(request) -> bool:
    user = request.user
    return bool(user.is_active and user.is_authenticated and
                ({"system_admin", "security_admin"} & user_scope(user).roles))


admin.site.has_permission = _admin_site_has_permission
admin.site.site_header = "街道 · 管理后台"
admin.site.site_title = "街道管理后台"


def _subdistrict_field(model):
    """The model's ``subdistrict`` foreign key (its tenant), or None."""
    try:
        field = model._meta.get_field("subdistrict")
    except FieldDoesNotExist:
        return None
    return field if field.many_to_one and field.related_model is Subdistrict else None


def _users_q(scope, subdistrict_ids) -> Q:
    """Accounts that belong to these sub-districts (a membership there), as ``User.scope_q`` has it; for the
    security administrator also accounts without any membership yet, which get their first one here."""
    q = Q(pk__in=Membership.objects.filter(org_unit__subdistrict_id__in=subdistrict_ids).values("user_id"))
    if scope.has("users.manage"):
        q |= ~Q(pk__in=Membership.objects.values("user_id"))
    return q


class _OwnSubdistrictForm:
    """Mixed into the form of a model with a sub-district. The sub-district is not a field: a new row gets the
    user's own before validation, so the constraints that hold it (a code unique per sub-district) are checked
    as a form error instead of failing in the database. ``save_model`` sets it again, authoritatively."""

    jiedao_subdistrict_id: int | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None and self.jiedao_subdistrict_id is not None:
            self.instance.subdistrict_id = self.jiedao_subdistrict_id

    def _get_validation_exclusions(self):
        exclude = super()._get_validation_exclusions()
        exclude.discard("subdistrict")
        return exclude

    def _update_errors(self, errors):
        # An error about the sub-district (not a field here) is shown above the form.
        if hasattr(errors, "error_dict") and "subdistrict" in errors.error_dict and "subdistrict" not in self.fields:
            errors.error_dict.setdefault(NON_FIELD_ERRORS, []).extend(errors.error_dict.pop("subdistrict"))
        super()._update_errors(errors)


class AuditedAdmin(admin.ModelAdmin):
    """Capability-gated, scoped to the user's sub-district, audited."""

    capability = "config.manage"

    def get_queryset(self, request):
        qs = self.model.objects.visible_to(request.user)
        field = _subdistrict_field(self.model)
        scope = user_scope(request.user)
        if field is not None and not scope.everything:
            own = Q(subdistrict_id__in=scope.subdistrict_ids)
            if field.null:  # a row for every sub-district (a national holiday): shown, not changed (_own)
                own |= Q(subdistrict__isnull=True)
            qs = qs.filter(own)
        return qs

    def _can(self, request) -> bool:
        return user_scope(request.user).has(self.capability)

    def _own(self, request, obj) -> bool:
        """A row without a sub-district applies to all of them: changing it here would change the others' too."""
        return (obj is None or _subdistrict_field(self.model) is None or obj.subdistrict_id is not None
                or user_scope(request.user).everything)

    def has_module_permission(self, request):
        return self._can(request)

    def has_view_permission(self, request, obj=None):
        return self._can(request)

    def has_add_permission(self, request):
        return self._can(request)

    def has_change_permission(self, request, obj=None):
        return self._can(request) and self._own(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._can(request) and self._own(request, obj)

    # Choices -----------------------------------------------------------------------------------------------------

    def _choice_subdistrict_ids(self, request, obj=None) -> set[int] | None:
        """The sub-districts whose rows a form of this request may offer: the edited row's, a new row's (the
        user's own), else every sub-district of the user's; None for no limit (the break-glass superuser)."""
        scope = user_scope(request.user)
        if scope.everything:
            return None
        if _subdistrict_field(self.model) is not None:
            if obj is not None and obj.subdistrict_id is not None:
                return {obj.subdistrict_id}
            if obj is None:
                return {subdistrict_id_of(request.user)}
        return set(scope.subdistrict_ids)

    def _scoped_choices(self, db_field, request, queryset):
        ids = getattr(request, "_jiedao_admin_choice_ids", None)
        if ids is None:
            ids = self._choice_subdistrict_ids(request)
        if ids is None:
            return queryset
        related = db_field.related_model
        if queryset is None:
            queryset = self.get_field_queryset(None, db_field, request)  # the related admin's ordering
        if queryset is None:
            queryset = related._default_manager.all()
        if related is Subdistrict:
            return queryset.filter(pk__in=ids)
        if _subdistrict_field(related) is not None:
            return queryset.filter(subdistrict_id__in=ids)
        if related is User:
            return queryset.filter(_users_q(user_scope(request.user), ids))
        return queryset

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs["queryset"] = self._scoped_choices(db_field, request, kwargs.get("queryset"))
        if kwargs["queryset"] is None:
            del kwargs["queryset"]
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs["queryset"] = self._scoped_choices(db_field, request, kwargs.get("queryset"))
        if kwargs["queryset"] is None:
            del kwargs["queryset"]
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if _subdistrict_field(self.model) is not None:
            fields = [name for name in fields if name != "subdistrict"]  # the user's own, set on save
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The form's dropdowns are built inside super().get_form: they read the sub-district from the request.
        request._jiedao_admin_choice_ids = self._choice_subdistrict_ids(request, obj)
        if _subdistrict_field(self.model) is not None and request._jiedao_admin_choice_ids is not None:
            base = kwargs.get("form", self.form)
            own = next(iter(request._jiedao_admin_choice_ids)) if obj is None else None
            kwargs["form"] = type(base.__name__, (_OwnSubdistrictForm, base), {"jiedao_subdistrict_id": own})
        return super().get_form(request, obj, change=change, **kwargs)

    # Writes ------------------------------------------------------------------------------------------------------

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        if not change and _subdistrict_field(self.model) is not None:
            obj.subdistrict_id = subdistrict_id_of(request.user)  # never the form's: the user's own
        before = type(obj)._base_manager.filter(pk=obj.pk).first() if change else None
        super().save_model(request, obj, form, change)
        changes = {name: _audited_change(obj, name, _shown(before, name), form.cleaned_data.get(name))
                   for name in form.changed_data if "password" not in name}
        audit_record(actor=request.user, action=f"admin.{'change' if change else 'add'}", obj=obj, changes=changes)

    @transaction.atomic
    def delete_model(self, request, obj):
        audit_record(actor=request.user, action="admin.delete", obj=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        objs = list(queryset)
        if not all(self.has_delete_permission(request, obj) for obj in objs):
            raise PermissionDenied
        for obj in objs:
            self.delete_model(request, obj)


_SECRET_NAMES = ("secret", "digest", "token", "key")


def _audited_change(obj, name: str, before, after) -> list:
    """[before, after] as the audit record keeps them: a secret (an encrypted field, a signing secret, a key) or a
    field of the personal-information inventory only as "changed", never its value (DESIGN §4.4)."""
    from .pii.fields import EncryptedTextField
    from .pii.inventory import inventoried

    try:
        field = obj._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    if isinstance(field, EncryptedTextField) or any(part in name for part in _SECRET_NAMES) \
            or inventoried(obj._meta.label, name):
        return [None if before is None else "***", None if after in (None, "") else "***"]
    return [before, None if after is None else str(after)[:200]]


def _shown(instance, name: str) -> str | None:
    """The value a changed field had before (the audit record's "before"), as the form shows it."""
    if instance is None:
        return None
    try:
        field = instance._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if field.many_to_many or field.one_to_many:
        return None
    value = getattr(instance, name, None)
    return None if value is None else str(value)[:200]


@admin.register(Subdistrict)
class SubdistrictAdmin(AuditedAdmin):
    """A sub-district edits its own row; a new one is set up from the command line (it would fall outside the
    scope of whoever created it here), and none is deleted here."""

    capability = "org.manage"
    list_display = ("code", "name", "district")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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

    @transaction.atomic
    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        # Deleting a unit empties the references to it (SET_NULL) by a bulk update, which sends no signal: the
        # per-process copies of the sub-district's case categories would keep it as a default department, and
        # every intake filed under one would name a unit that no longer exists (decision 0009).
        Subdistrict.objects.filter(pk=obj.subdistrict_id).update(categories_token=new_token())


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
