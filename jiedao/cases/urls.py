from django.urls import path

from . import views

app_name = "cases"
urlpatterns = [
    path("", views.console, name="console"),
    path("map.json", views.map_json, name="map_json"),
    path("bulk-dispatch/", views.bulk_dispatch, name="bulk_dispatch"),
    path("inbox/", views.inbox, name="inbox"),
    path("field/", views.field_home, name="field"),
    path("field/report/", views.field_report, name="field_report"),
    path("import/hotline/", views.hotline_import_view, name="hotline_import"),
    path("import/hotline/template.xlsx", views.hotline_template, name="hotline_template"),
    path("evaluation/", views.evaluation_view, name="evaluation"),
    path("evaluation/export.xlsx", views.evaluation_export, name="evaluation_export"),
    path("photos/<int:photo_id>/<str:variant>", views.photo, name="photo"),
    path("<int:case_id>/", views.case_detail, name="detail"),
    path("<int:case_id>/<str:action>/", views.case_act, name="act"),
]
