from django.contrib import admin
from django.db.models import F

from jiedao.kernel.admin import AuditedAdmin
from jiedao.kernel.models import Subdistrict

from .models import Building, Compound, Grid, GridAssignment, Premises, River, Road


@admin.register(Grid)
class GridAdmin(AuditedAdmin):
    capability = "places.manage"
    list_display = ("code", "name", "org_unit")
    search_fields = ("code", "name")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        Subdistrict.objects.filter(pk=obj.subdistrict_id).update(places_version=F("places_version") + 1)


@admin.register(GridAssignment)
class GridAssignmentAdmin(AuditedAdmin):
    capability = "users.manage"
    list_display = ("user", "grid")


for model, cols in (
    (Compound, ("name", "grid", "residents_committee", "property_company")),
    (Building, ("name", "kind", "grid", "compound")),
    (Premises, ("name", "kind", "grid", "road")),
    (Road, ("name", "road_class", "chief")),
    (River, ("name", "chief")),
):
    admin.site.register(model, type(f"{model.__name__}Admin", (AuditedAdmin,), {
        "capability": "places.manage", "list_display": cols, "search_fields": ("name",)}))
